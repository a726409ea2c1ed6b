import { SynupError, type ExitCodeName } from '../errors.js';

/** The ops `synup volume-job` runs inside a volume. */
export const VOLUME_JOB_OPS = ['cell-info', 'backup', 'backup-gate', 'defrag', 'undo-defrag'] as const;
export type VolumeJobOp = (typeof VOLUME_JOB_OPS)[number];

/** The key that marks the one result line among a Job's log lines. */
export const VOLUME_JOB_MARKER = 'synupVolumeJob';

interface ResultLine {
  op?: string;
  ok?: boolean;
  result?: unknown;
  error?: { code?: string; message?: string; hint?: string };
}

/** The result of a volume job from its log: its value, or its error re-thrown with the same exit code. */
export function parseVolumeJobLog<T>(log: string, op: VolumeJobOp, where: string): T {
  const line = log.split('\n').reverse().map((l) => l.trim()).find((l) => l.startsWith(`{"${VOLUME_JOB_MARKER}":`));
  if (!line) throw new SynupError('failed', `${where} printed no synup result line`, { hint: `read its log: the container may not have started synup (image, command)` });
  const parsed = JSON.parse(line) as ResultLine;
  if (parsed.op !== op) throw new SynupError('failed', `${where} answered op ${String(parsed.op)}, expected ${op}`);
  if (parsed.ok) return parsed.result as T;
  const code = (parsed.error?.code ?? 'failed') as ExitCodeName;
  throw new SynupError(code, `${where}: ${parsed.error?.message ?? 'failed without a message'}`, { hint: parsed.error?.hint });
}

/** What a volume defrag Job reports (volume/defrag.ts), as synup reads it back from the Job's log. */
export interface VolumeDefragResult {
  workDir: string;
  swapped: string[];
  bytesBefore: number;
  bytesAfter: number;
  engine: string;
  durationMs: number;
}
