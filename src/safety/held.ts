import { existsSync } from 'node:fs';
import os from 'node:os';
import { SynupError } from '../errors.js';
import { describeHolder, findHolders } from '../lmdb/holders.js';
import { isAlive } from '../proc.js';
import { lockFileFor, readLock } from './lock.js';

/**
 * The "cell is not held" guard, for anything that reads a cell as stopped or moves a cell dir: no process holds
 * cell.guid's lock or an LMDB reader slot (the running service, a backup tool…), and no live synup run holds the
 * cell's run lock. `action` names what is refused ("cold copy", "restore --replace").
 */
export async function assertNotHeld(dir: string, action: string, options: { stateDir?: string } = {}): Promise<void> {
  if (!existsSync(dir)) return;
  const holders = await findHolders(dir);
  if (holders.length > 0) {
    const list = holders.slice(0, 5).map(describeHolder).join(', ');
    throw new SynupError('refused', `${action} refused: ${list} still hold${holders.length === 1 ? 's' : ''} ${dir}; nothing was changed`, {
      hint: 'stop the service (and any tool reading the cell) first',
      details: { holders },
    });
  }
  if (!options.stateDir) return;
  const lock = readLock(lockFileFor(options.stateDir, dir));
  if (lock && (lock.host !== os.hostname() || isAlive(lock.pid))) {
    throw new SynupError('refused', `${action} refused: synup ${lock.command} (pid ${lock.pid} on ${lock.host}, run ${lock.runId}) holds ${dir}; nothing was changed`, {
      hint: 'wait for that run to finish (or `synup resume` it)',
    });
  }
}
