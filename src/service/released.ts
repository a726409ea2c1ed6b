import { existsSync } from 'node:fs';
import { findHolders, type Holder } from '../lmdb/holders.js';
import { stillHeldAfterStop } from '../safety/held.js';
import { waitUntil } from '../poll.js';

/** Holders of the cell's files, or none when the dir is not here (a service whose data lives elsewhere). */
async function cellHolders(cellDir: string): Promise<Holder[]> {
  return existsSync(cellDir) ? findHolders(cellDir) : [];
}

/** Whether anything holds cell.guid's lock: a running Synapse always does. */
export async function cellLocked(cellDir: string): Promise<Holder[]> {
  return (await cellHolders(cellDir)).filter((h) => h.kind === 'cell-lock');
}

/**
 * After a stop: waits (bounded) until no process holds cell.guid or a lock.mdb reader slot — the kernel drops
 * locks when a process is gone, and stale reader slots of dead pids do not count. Throws if something still holds.
 */
export async function waitUntilReleased(cellDir: string, timeoutMs: number): Promise<void> {
  let holders: Holder[] = [];
  const released = await waitUntil(async () => (holders = await cellHolders(cellDir)).length === 0, timeoutMs, { firstMs: 25, maxMs: 250 });
  if (!released) throw stillHeldAfterStop(holders);
}
