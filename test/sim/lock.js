// The exclusive lock on cell.guid a running cell holds (Synapse: fcntl.lockf in Cell._getCellLock).
// Node has no flock/fcntl, so util-linux flock(1) locks a file descriptor it inherits from us: flock(2) locks the
// open file description, which is ours — the lock lives exactly as long as this process keeps that fd open,
// whatever ends the process (SIGKILL included). /proc/locks lists it as FLOCK by inode; note that the pid shown
// there is flock(1)'s (it made the call and has exited); /proc/<our pid>/fdinfo/<fd> shows the lock under our pid.
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * cell.guid: 32 hex chars, written once (exclusively, so two first boots racing agree on one guid).
 * @param {string} dir
 */
export function ensureCellGuid(dir) {
  try {
    writeFileSync(path.join(dir, 'cell.guid'), randomBytes(16).toString('hex'), { flag: 'wx' });
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'EEXIST') throw error;
  }
}

/**
 * Takes the lock without waiting. `drop` unlocks but keeps cell.guid open, as a real Cortex is left after its live
 * backup (`shutil.copy` of cell.guid in its own process closes a descriptor of the file, which drops the process's
 * lockf lock; a flock here belongs to our open file, so it is dropped explicitly).
 * @param {string} dir
 * @returns {{ locked: true, release(): void, drop(): void } | { locked: false, reason: 'busy' | 'no-flock' | 'error', detail: string }}
 */
export function lockCellGuid(dir) {
  const file = path.join(dir, 'cell.guid');
  const fd = openSync(file, 'r');
  const run = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 });
  const drop = () => {
    const unlock = spawnSync('flock', ['--unlock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 });
    if (unlock.status !== 0) throw new Error(`flock --unlock failed: ${unlock.error?.message ?? unlock.stderr.toString().trim()}`);
  };
  if (run.status === 0) return { locked: true, release: () => closeSync(fd), drop };
  closeSync(fd);
  if (run.error) {
    const missing = /** @type {NodeJS.ErrnoException} */ (run.error).code === 'ENOENT';
    return { locked: false, reason: missing ? 'no-flock' : 'error', detail: missing ? 'flock(1) is not installed (util-linux)' : run.error.message };
  }
  if (run.status === 1) return { locked: false, reason: 'busy', detail: `${file} is locked by another process` };
  return { locked: false, reason: 'error', detail: `flock(1) failed (${run.signal ?? `exit ${run.status}`}): ${run.stderr.toString().trim()}` };
}
