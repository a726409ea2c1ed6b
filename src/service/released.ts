import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynupError } from '../errors.js';
import { findHolders, type Holder } from '../lmdb/holders.js';

/** Holders of the cell's files, or none when the dir is not here (a service whose data lives elsewhere). */
async function cellHolders(cellDir: string): Promise<Holder[]> {
  return existsSync(cellDir) ? findHolders(cellDir) : [];
}

/** Whether anything holds cell.guid's lock: a running Synapse always does. */
export async function cellLocked(cellDir: string): Promise<Holder[]> {
  return (await cellHolders(cellDir)).filter((h) => h.kind === 'cell-lock');
}

export function describeHolders(holders: Holder[]): string {
  return holders.slice(0, 5).map((h) => `pid ${h.pid} (${h.kind} ${h.path})`).join(', ') + (holders.length > 5 ? `, and ${holders.length - 5} more` : '');
}

/**
 * After a stop: waits (bounded) until no process holds cell.guid or a lock.mdb reader slot — the kernel drops
 * locks when a process is gone, and stale reader slots of dead pids do not count. Throws if something still holds.
 */
export async function waitUntilReleased(cellDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let holders = await cellHolders(cellDir);
  for (let pause = 25; holders.length > 0 && Date.now() < deadline; pause = Math.min(pause * 2, 250)) {
    await sleep(pause);
    holders = await cellHolders(cellDir);
  }
  if (holders.length > 0) {
    throw new SynupError('failed', `the service stopped but ${describeHolders(holders)} still hold${holders.length === 1 ? 's' : ''} the cell's files`, {
      hint: 'find and stop that process (a mirror, a backup tool, a python shell?) before the data is touched',
      details: { holders },
    });
  }
}
