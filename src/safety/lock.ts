import { accessSync, closeSync, constants, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { ensurePrivateDir, fsyncDir } from '../fsutil.js';
import { isAlive } from '../proc.js';
import { readRecord } from '../records.js';

export interface LockInfo {
  pid: number;
  host: string;
  runId: string;
  command: string;
  since: string;
  /** The state dir (journal) of the run holding the lock: where `synup resume` finds it. */
  stateDir?: string;
}

export interface CellLock {
  file: string;
  info: LockInfo;
  release(): void;
}

/**
 * The cell's run lock belongs to the cell, not to a config: a file beside the cell dir, in the directory that holds it
 * (`<parent>/.<name>.synup-lock`). Every config, state dir, symlink (cell dirs are resolved to their real path) or
 * bind mount of a parent that reaches the cell reaches this same file, and it stays put while synup swaps the cell dir
 * by rename (the swap happens inside that directory).
 */
export function cellLockFile(cellDir: string): string {
  return path.join(path.dirname(cellDir), `.${path.basename(cellDir)}.synup-lock`);
}

/** A lock kept in a state dir, for what is not a cell (a deployment file: one deployment run per journal). */
export function stateLockFile(stateDir: string, key: string): string {
  const digest = createHash('sha256').update(path.resolve(key)).digest('hex').slice(0, 16);
  return path.join(stateDir, 'locks', `${path.basename(key)}-${digest}.lock`);
}

export const readLock = (file: string): LockInfo | null => readRecord<LockInfo>(file);

const holder = (held: LockInfo) => `pid ${held.pid}${held.host === os.hostname() ? '' : ` on ${held.host}`}, run ${held.runId}${held.stateDir ? `, state dir ${held.stateDir}` : ''}`;

/** Creates the lock file with O_EXCL; false when it exists. A directory synup may not write is a clear refusal. */
function createExclusive(file: string, mine: LockInfo): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC') {
      throw new SynupError('refused', `cannot create the run lock ${file}: ${code}`, {
        hint: `synup keeps a cell's run lock beside the cell dir (an upgrade also makes its staging dir there): it needs write access to ${path.dirname(file)}`,
      });
    }
    throw error;
  }
  try {
    writeSync(fd, JSON.stringify(mine));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(path.dirname(file));
  return true;
}

/**
 * One run per cell. The lock file is created with O_EXCL; a lock whose pid is dead (on this host) is stale and is
 * taken over only by the run that left it (`resume`) or with `force`, never silently. `subject` names what is locked.
 */
export function acquireLock(file: string, subject: string, info: Omit<LockInfo, 'pid' | 'host' | 'since'>, force = false): CellLock {
  const mine: LockInfo = { ...info, pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    if (createExclusive(file, mine)) return { file, info: mine, release: () => releaseLock(file, mine) };
    const held = readLock(file);
    const stale = held !== null && held.host === os.hostname() && !isAlive(held.pid);
    if (held && !stale) {
      throw new SynupError('refused', `${subject} is locked by synup ${held.command} (${holder(held)}, since ${held.since})`, {
        hint: 'wait for that run to finish; only one synup run per cell at a time, whatever config reaches it',
      });
    }
    // Resuming the very run that left the lock behind is what the lock is for; anything else needs --force.
    if (!force && held?.runId !== info.runId) {
      throw new SynupError('refused', `stale lock on ${subject}: synup ${held?.command ?? '?'} ${held ? `pid ${held.pid} (${holder(held).replace(/^pid \d+, /, '')})` : '?'} is no longer running`, {
        hint: `run \`synup resume\` ${held?.stateDir ? `with the config whose state dir is ${held.stateDir} ` : ''}to finish or roll back that run, or pass --force to take the lock over (${file})`,
      });
    }
    // Renamed first so two takers cannot both remove it; then removed, so stale locks do not pile up.
    const aside = `${file}.stale-${process.pid}-${Date.now()}`;
    try {
      renameSync(file, aside);
      unlinkSync(aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new SynupError('refused', `could not take the lock ${file}`);
}

/** Whether synup may create files in `dir` (write and search permission, not a read-only or immutable dir). */
function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The cell's run lock (cellLockFile). Where synup may not write beside the cell (a parent dir owned by root while synup
 * runs as the service's user, read-only, immutable), the lock falls back to the state dir, keyed by the cell's real
 * path, as before issue 21: configs with other state dirs do not see it then, but neither can such a run swap the cell
 * dir (its staging dir needs that same parent), and Synapse's own lock on cell.guid refuses a second instance.
 */
export function acquireCellLock(cellDir: string, stateDir: string, info: Omit<LockInfo, 'pid' | 'host' | 'since' | 'stateDir'>, force = false): CellLock {
  const file = cellLockFile(cellDir);
  if (writable(path.dirname(file))) return acquireLock(file, cellDir, { ...info, stateDir }, force);
  return acquireStateLock(stateDir, cellDir, info, force);
}

/** The state-dir lock (see stateLockFile), its dir made private first. */
export function acquireStateLock(stateDir: string, key: string, info: Omit<LockInfo, 'pid' | 'host' | 'since'>, force = false): CellLock {
  const file = stateLockFile(stateDir, key);
  ensurePrivateDir(path.dirname(file));
  return acquireLock(file, key, { ...info, stateDir }, force);
}

function releaseLock(file: string, mine: LockInfo): void {
  const held = readLock(file);
  if (held && held.pid === mine.pid && held.since === mine.since) unlinkSync(file);
}
