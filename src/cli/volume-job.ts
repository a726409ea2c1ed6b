import { readFile, statfs } from 'node:fs/promises';
import path from 'node:path';
import { createBackup } from '../backup/create.js';
import { findUsableBackup } from '../backup/find.js';
import type { Engine } from '../backup/engines.js';
import { parseDuration } from '../units.js';
import { SynupError, usageError } from '../errors.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { estimateCompactedBytes } from '../runner/estimate.js';
import { defragVolume, undoVolumeDefrag } from '../volume/defrag.js';
import { VOLUME_JOB_MARKER, VOLUME_JOB_OPS, type VolumeJobOp } from '../volume/result.js';
import type { CommandContext } from '../config/context.js';

interface VolumeJobFlags {
  run?: string;
  maxAge?: string;
  engine?: Engine;
}

/** Where the Job's manifest mounted the volumes (env, so the same image serves any layout). */
function dirsFrom(env: NodeJS.ProcessEnv) {
  const cellDir = env.SYNUP_CELL_DIR;
  if (!cellDir || !path.isAbsolute(cellDir)) throw usageError('SYNUP_CELL_DIR must be the absolute path where the cell volume is mounted', 'set it in the Job (synup sets it to the mountPath of the cell PVC)');
  const backupsDir = env.SYNUP_BACKUP_DIR && path.isAbsolute(env.SYNUP_BACKUP_DIR) ? env.SYNUP_BACKUP_DIR : null;
  return { cellDir, backupsDir, cellName: env.SYNUP_CELL_NAME || path.basename(cellDir) };
}

const needBackups = (dir: string | null) => {
  if (!dir) throw usageError('SYNUP_BACKUP_DIR must be the absolute path where the backup volume is mounted', 'name the backup PVC in service.kubernetes.backupClaim');
  return dir;
};
const needRun = (run: string | undefined) => {
  if (!run) throw usageError('--run <id> is required for defrag and undo-defrag');
  return run;
};

async function runOp(op: VolumeJobOp, env: NodeJS.ProcessEnv, flags: VolumeJobFlags): Promise<unknown> {
  const { cellDir, backupsDir, cellName } = dirsFrom(env);
  switch (op) {
    case 'cell-info': {
      const info = await readCellInfo(cellDir);
      // The cell's public certificate: health through `kubectl port-forward` pins it.
      const certPem = await readFile(path.join(cellDir, 'sslcert.pem'), 'utf8').catch(() => null);
      // The in-volume defrag writes its compacted copy on the same volume.
      const fs = await statfs(cellDir);
      return { ...info, certPem, freeBytes: fs.bavail * fs.bsize, compactedBytes: await estimateCompactedBytes(cellDir) };
    }
    case 'backup': {
      const made = await createBackup({ cellDir, backupsDir: needBackups(backupsDir), name: cellName, mode: 'cold', engine: flags.engine });
      if (!made.verification?.ok) throw new SynupError('failed', `the backup ${made.dir} did not verify: ${made.verification?.problems.slice(0, 3).map((p) => p.message).join('; ') ?? 'not verified'}`);
      return { dir: made.dir, bytes: made.copy.bytesAfter, engine: made.copy.engine, verified: true };
    }
    case 'backup-gate': {
      const maxAgeMs = parseDuration(flags.maxAge ?? '24h');
      if (maxAgeMs === null) throw usageError(`--max-age ${JSON.stringify(flags.maxAge)} is not a duration (e.g. 24h)`);
      const { guid, cellVersion } = await readCellInfo(cellDir);
      const found = await findUsableBackup({ backupsDir: needBackups(backupsDir), cellGuid: guid ?? '', cellVersion, maxAgeMs });
      return { backup: found.backup ? { dir: found.backup.dir, ageMs: found.backup.ageMs } : null, rejected: found.rejected.slice(0, 5), rehash: found.rehash };
    }
    case 'defrag':
      return defragVolume({ cellDir, runId: needRun(flags.run), engine: flags.engine });
    case 'undo-defrag':
      return undoVolumeDefrag(cellDir, needRun(flags.run));
  }
}

/**
 * `synup volume-job <op>` (hidden): what a Kubernetes Job runs inside the cell's volume. Whatever happens, the last
 * stdout line is one JSON object `{"synupVolumeJob":1,"op",…,"ok",…}` that synup reads back from the Job's log.
 */
export async function runVolumeJob(ctx: CommandContext, args: string[], flags: VolumeJobFlags): Promise<number> {
  const op = args[0] as VolumeJobOp;
  const line = (value: Record<string, unknown>) => ctx.out.stdout.write(JSON.stringify({ [VOLUME_JOB_MARKER]: 1, op, ...value }) + '\n');
  try {
    if (!VOLUME_JOB_OPS.includes(op)) throw usageError(`unknown volume-job op ${JSON.stringify(args[0])} (one of ${VOLUME_JOB_OPS.join(', ')})`);
    line({ ok: true, result: await runOp(op, ctx.env, flags) });
    return 0;
  } catch (error) {
    const err = error instanceof SynupError ? error : new SynupError('failed', error instanceof Error ? error.message : String(error));
    line({ ok: false, error: { code: err.code, message: err.message, hint: err.hint } });
    ctx.out.stderr.write(`synup: ${err.message}\n`);
    return err.exitCode;
  }
}
