import { readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { refusal } from '../errors.js';
import { isAlive, processGroup, processStartTicks } from '../proc.js';
import { serviceHolders } from './released.js';
import { describeHolders } from '../safety/held.js';

/** A running instance of the cell that synup did not start, checked to be this cell's service. */
export interface RunningInstance {
  pid: number;
  startTicks: number | null;
  /** Its process group, and the group leader's start time: the group is signalled only while that leader lives. */
  pgid: number | null;
  groupStartTicks: number | null;
  argv: string[];
  /** Where its stdout goes when that is a regular file (its log), else null (a pipe, a terminal, the journal). */
  logFile: string | null;
}

function readArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

const realOrNull = (file: string) => {
  try {
    return realpathSync(file);
  } catch {
    return null;
  }
};

/** stdout of `pid` when it is a regular file (e.g. `… > cortex.log 2>&1 &`). */
function stdoutFile(pid: number): string | null {
  try {
    const target = readlinkSync(`/proc/${pid}/fd/1`);
    return target.startsWith('/') && statSync(target).isFile() ? target : null;
  } catch {
    return null;
  }
}

/**
 * The cell's running service (serviceHolders: the live holder of cell.guid's lock, else the process holding its envs
 * with cell.guid open), or null when none. Refuses (exit 3) when the holder's command line does not name the cell dir
 * (resolved against the holder's own cwd): then it is not a service of this cell that synup can manage.
 */
export async function findRunningInstance(cellDir: string): Promise<RunningInstance | null> {
  const holders = await serviceHolders(cellDir);
  const pid = holders.map((h) => h.pid).find((p) => isAlive(p));
  if (pid === undefined) return null;
  const argv = readArgv(pid);
  const cwd = realOrNull(`/proc/${pid}/cwd`);
  const names = argv.slice(1).some((arg) => (path.isAbsolute(arg) || cwd !== null) && realOrNull(path.resolve(cwd ?? '/', arg)) === cellDir);
  if (!names) {
    throw refusal(`pid ${pid} holds ${describeHolders(holders)} but its command line does not name ${cellDir}: ${argv.join(' ') || '(unreadable)'}`, 'stop that process yourself (it is not a service synup can adopt), then run `synup start`');
  }
  const pgid = processGroup(pid);
  return { pid, startTicks: processStartTicks(pid), pgid, groupStartTicks: pgid === null ? null : processStartTicks(pgid), argv, logFile: stdoutFile(pid) };
}
