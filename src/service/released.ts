import { existsSync } from 'node:fs';
import { findHolders, openCellGuidHolders, type Holder } from '../lmdb/holders.js';
import { stillHeldAfterStop } from '../safety/held.js';
import { waitUntil } from '../poll.js';

/** Holders of the cell's files, or none when the dir is not here (a service whose data lives elsewhere). */
async function cellHolders(cellDir: string): Promise<Holder[]> {
  return existsSync(cellDir) ? findHolders(cellDir) : [];
}

/**
 * The cell's running service, by what it holds: the holder of cell.guid's lock, which Synapse takes at boot
 * (`fcntl.lockf` in Cell._getCellLock); else a process holding one of the cell's envs that keeps cell.guid open
 * (kind 'cell-open'). A lockf lock belongs to the process and goes with the close of any of its descriptors of the
 * file: Synapse's live backup copies cell.guid (`shutil.copy` in Cell._execBackupTask) inside the running service, and
 * an AHA mirror clone runs one on its leader, so a running Synapse may hold no lock at all. Costs nothing more while
 * the lock is held or nothing holds an env.
 */
export async function serviceHolders(cellDir: string): Promise<Holder[]> {
  const holders = await cellHolders(cellDir);
  const locked = holders.filter((h) => h.kind === 'cell-lock');
  return locked.length > 0 ? locked : openCellGuidHolders(cellDir, holders);
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
