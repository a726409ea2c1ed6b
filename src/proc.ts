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

/**
 * What synup reads of a tool's output (aha.command, kubectl, docker, systemctl, the health check, a smoke check, the
 * Synapse backup tool): a tool printing more is stopped and its output cut, never buffered whole (execa's default is
 * 100 MB per stream). Pass `maxBuffer: TOOL_OUTPUT_LIMITS` to execa, and `outputCut(result)` says when it was cut.
 */
export const TOOL_OUTPUT_LIMITS = { stdout: 16 * 2 ** 20, stderr: 2 ** 20 } as const;

/** `printed more than 1 MiB on stderr (stopped)` when execa cut the output at TOOL_OUTPUT_LIMITS, else null. */
export function outputCut(result: { isMaxBuffer?: boolean; stdout?: unknown; stderr?: unknown }): string | null {
  if (!result.isMaxBuffer) return null;
  const stream = String(result.stdout ?? '').length >= TOOL_OUTPUT_LIMITS.stdout ? 'stdout' : 'stderr';
  return `printed more than ${TOOL_OUTPUT_LIMITS[stream] / 2 ** 20} MiB on ${stream} (stopped)`;
}

/** The last `bytes` of a stream a long-running tool writes (its error is at the end): never more held in memory. */
export function keepTail(stream: NodeJS.ReadableStream | null | undefined, bytes = 64 * 1024): () => string {
  let tail = Buffer.alloc(0);
  stream?.on('data', (chunk: Buffer | string) => {
    const next = Buffer.concat([tail, Buffer.from(chunk)]);
    tail = next.length > bytes ? next.subarray(next.length - bytes) : next;
  });
  return () => tail.toString('utf8');
}
