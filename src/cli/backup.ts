import os from 'node:os';
import path from 'node:path';
import { createBackup } from '../backup/create.js';
import { progressPrinter } from '../backup/progress.js';
import { resolveCellDir } from '../config/cell-dir.js';
import { trapInterrupts } from '../interrupt.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

interface BackupFlags {
  cold?: boolean;
  /** commander's --no-verify */
  verify?: boolean;
}

/** A compacted, checksummed, verified backup with a manifest. */
export async function runBackup(ctx: CommandContext, args: string[], flags: BackupFlags): Promise<number> {
  const { config } = ctx.config();
  const cellDir = resolveCellDir(args[0] ?? config.cell.dir, ctx.cwd);
  const progress = progressPrinter(ctx.out);
  const trap = trapInterrupts(ctx.out, 'removing the partial backup');
  const made = await createBackup({
    cellDir,
    dst: args[1] ? path.resolve(ctx.cwd, args[1]) : undefined,
    backupsDir: config.backup.dir,
    name: config.cell.name,
    mode: flags.cold ? 'cold' : 'live',
    engine: config.backup.engine,
    jobs: config.backup.jobs ?? os.availableParallelism(),
    skipDirs: config.backup.skipDirs,
    verify: flags.verify ?? true,
    python: config.backup.python,
    signal: trap.signal,
    onProgress: (event) => progress.update(event),
  }).finally(() => {
    progress.done();
    trap.dispose();
  });
  const { copy, manifest, verification } = made;
  if (ctx.out.json) {
    emitJson(ctx.out, {
      ok: true,
      dir: made.dir,
      mode: manifest.mode,
      engine: copy.engine,
      consistency: copy.consistency,
      cell: manifest.cell,
      envs: copy.envs.map(({ path: p, bytesBefore, bytesAfter, diskBytesBefore, diskBytesAfter, durationMs }) => ({ path: p, bytesBefore, bytesAfter, diskBytesBefore, diskBytesAfter, durationMs })),
      files: copy.files.length,
      bytesBefore: copy.bytesBefore,
      bytesAfter: copy.bytesAfter,
      diskBytesBefore: copy.diskBytesBefore,
      diskBytesAfter: copy.diskBytesAfter,
      durationMs: copy.durationMs,
      verified: verification ? { ok: verification.ok, checked: verification.checked, durationMs: verification.durationMs } : null,
      notes: copy.notes,
    });
    return 0;
  }
  // What the disk really holds (st_blocks): a Synapse data.mdb is sparse, its file size is the map size.
  for (const env of copy.envs) {
    const sparse = env.diskBytesBefore !== undefined && env.diskBytesBefore < env.bytesBefore;
    say(ctx.out, `  ${env.path}: ${formatBytes(env.diskBytesBefore ?? env.bytesBefore)} → ${formatBytes(env.diskBytesAfter ?? env.bytesAfter)} on disk${sparse ? ` (file size ${formatBytes(env.bytesBefore)}, sparse)` : ''} in ${formatDuration(env.durationMs)}`);
  }
  for (const line of copy.notes) say(ctx.out, `  note: ${line}`);
  say(ctx.out, `backup ${made.dir}: ${copy.envs.length} envs compacted with ${copy.engine} (${manifest.mode}, ${copy.consistency === 'snapshot' ? 'one consistent snapshot' : 'each env consistent on its own'}), ${copy.files.length} files: ${formatBytes(copy.diskBytesBefore)} → ${formatBytes(copy.diskBytesAfter)} on disk${copy.diskBytesBefore < copy.bytesBefore ? ` (file sizes ${formatBytes(copy.bytesBefore)} → ${formatBytes(copy.bytesAfter)})` : ''} in ${formatDuration(copy.durationMs)}`);
  say(ctx.out, verification
    ? `verified: ${verification.checked.envs} envs, ${verification.checked.subDbs} sub-dbs, ${verification.checked.entries} entries, ${verification.checked.files} files in ${formatDuration(verification.durationMs)}`
    : 'not verified (--no-verify): the upgrade gate will not use it until `synup verify` passes');
  return 0;
}
