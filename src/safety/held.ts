import { existsSync, realpathSync } from 'node:fs';
import os from 'node:os';
import { SynupError } from '../errors.js';
import { describeHolder, findHolders, type Holder } from '../lmdb/holders.js';
import { isAlive } from '../proc.js';
import { cellLockFile, readLock, stateLockFile } from './lock.js';

/**
 * "Is the cell held": the one place that asks whether processes hold a cell's files (cell.guid's lock, LMDB reader
 * slots) or a live synup run holds its run lock, and the one way such holders are named in messages. Before synup
 * acts, a holder is a refusal (exit 3, nothing changed); after synup stopped the service, a failure of the run.
 */

/** `pid 12 (python3, lock on /x/cell.guid and 16 more files), pid 13 (…), and 4 more pids`: one entry per pid, five named. */
export function describeHolders(holders: Holder[]): string {
  const byPid = new Map<number, Holder[]>();
  for (const holder of holders) byPid.set(holder.pid, [...(byPid.get(holder.pid) ?? []), holder]);
  const pids = [...byPid.values()];
  const named = pids.slice(0, 5).map((held) => describeHolder(held[0]!, held.length - 1));
  return named.join(', ') + (pids.length > 5 ? `, and ${pids.length - 5} more pids` : '');
}

const hold = (holders: Holder[]) => (holders.length === 1 ? 'holds' : 'hold');

/**
 * The guard for anything that reads a cell as stopped or moves a cell dir: no process holds cell.guid's lock or an
 * LMDB reader slot (the running service, a backup tool…), and no live synup run holds the cell's run lock.
 * `action` names what is refused ("cold copy", "restore --replace").
 */
export async function assertNotHeld(dir: string, action: string, options: { runLock?: boolean; stateDir?: string } = {}): Promise<void> {
  if (!existsSync(dir)) return;
  const holders = await findHolders(dir);
  if (holders.length > 0) {
    throw new SynupError('refused', `${action} refused: ${describeHolders(holders)} still ${hold(holders)} ${dir}; nothing was changed`, {
      hint: 'stop the service (and any tool reading the cell) first',
      details: { holders },
    });
  }
  if (!options.runLock) return;
  const real = realpathSync(dir);
  // The cell's own lock, or the state dir's where synup could not write beside the cell (acquireCellLock).
  const lock = readLock(cellLockFile(real)) ?? (options.stateDir ? readLock(stateLockFile(options.stateDir, real)) : null);
  if (lock && (lock.host !== os.hostname() || isAlive(lock.pid))) {
    throw new SynupError('refused', `${action} refused: synup ${lock.command} (pid ${lock.pid} on ${lock.host}, run ${lock.runId}) holds ${dir}; nothing was changed`, {
      hint: 'wait for that run to finish (or `synup resume` it)',
    });
  }
}

/** After a stop: the service is gone but something still holds the cell's files, so its data must not be touched. */
export function stillHeldAfterStop(holders: Holder[]): SynupError {
  return new SynupError('failed', `the service stopped but ${describeHolders(holders)} still ${hold(holders)} the cell's files`, {
    hint: 'find and stop that process (a mirror, a backup tool, a python shell?), then `synup resume` or start it again',
    details: { holders },
  });
}
