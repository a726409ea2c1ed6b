import { readdirSync, readFileSync } from 'node:fs';

/** Fields of /proc/<pid>/stat after the `(comm)` field (comm may hold spaces and parentheses). */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Boot-relative start time in clock ticks: tells a pid from a later process that reuses the number. */
export function processStartTicks(pid: number): number | null {
  const fields = statFields(pid);
  return fields ? Number(fields[19]) : null;
}

/** Alive and not a zombie (an exited child nobody reaped yet is gone for our purposes). */
export function isAlive(pid: number, startTicks?: number | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const fields = statFields(pid);
  if (!fields) return true; // no /proc: liveness by signal 0 only
  if (fields[0] === 'Z' || fields[0] === 'X') return false;
  return startTicks === undefined || startTicks === null || Number(fields[19]) === startTicks;
}

/** Signals a process, or its whole process group when it leads one (a service synup started detached). */
export function signalProcess(pid: number, signal: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Process group of a pid (field 5 of /proc/<pid>/stat), or null without /proc. */
export function processGroup(pid: number): number | null {
  const fields = statFields(pid);
  return fields ? Number(fields[2]) : null;
}

/** Live (non-zombie) members of process group `pgid`, from /proc; [] without /proc. */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const fields = statFields(pid);
      return fields !== null && Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X';
    });
}
