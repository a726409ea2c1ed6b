import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { ensurePrivateDir } from '../fsutil.js';
import { isAlive } from '../proc.js';
import { readRecord } from '../records.js';

export interface LockInfo {
  pid: number;
  host: string;
  runId: string;
  command: string;
  since: string;
}

export interface CellLock {
  file: string;
  info: LockInfo;
  release(): void;
}

export function lockFileFor(stateDir: string, cellDir: string): string {
  const key = createHash('sha256').update(path.resolve(cellDir)).digest('hex').slice(0, 16);
  return path.join(stateDir, 'locks', `${path.basename(cellDir)}-${key}.lock`);
}


export const readLock = (file: string): LockInfo | null => readRecord<LockInfo>(file);

/**
 * One run per cell. The lock file is created with O_EXCL; a lock whose pid is dead (on this host) is stale and is
 * taken over only with `force`, never silently.
 */
export function acquireLock(stateDir: string, cellDir: string, info: Omit<LockInfo, 'pid' | 'host' | 'since'>, force = false): CellLock {
  const file = lockFileFor(stateDir, cellDir);
  ensurePrivateDir(path.dirname(file));
  const mine: LockInfo = { ...info, pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(mine));
      fsyncSync(fd);
      closeSync(fd);
      return { file, info: mine, release: () => releaseLock(file, mine) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const held = readLock(file);
    const stale = held !== null && held.host === os.hostname() && !isAlive(held.pid);
    if (held && !stale) {
      throw new SynupError('refused', `${cellDir} is locked by synup ${held.command} (pid ${held.pid} on ${held.host}, run ${held.runId}, since ${held.since})`, {
        hint: 'wait for that run to finish; only one synup run per cell at a time',
      });
    }
    // Resuming the very run that left the lock behind is what the lock is for; anything else needs --force.
    if (!force && held?.runId !== info.runId) {
      throw new SynupError('refused', `stale lock on ${cellDir}: synup ${held?.command ?? '?'} pid ${held?.pid ?? '?'} (run ${held?.runId ?? '?'}) is no longer running`, {
        hint: 'run `synup resume` to finish or roll back that run, or pass --force to take the lock over',
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

function releaseLock(file: string, mine: LockInfo): void {
  const held = readLock(file);
  if (held && held.pid === mine.pid && held.since === mine.since) unlinkSync(file);
}
