import path from 'node:path';
import { SynupError } from '../../errors.js';
import { formatBytes, formatConfigDuration, formatDuration } from '../../units.js';
import type { SynupConfig } from '../../config/schema.js';
import type { Step } from '../context.js';

/**
 * The newest usable backup of this cell, or a refusal naming why none counts. Called by the step and, before anything
 * is written, by `synup upgrade` itself, so a missing backup is refused with nothing changed on disk.
 */
export async function requireUsableBackup(config: SynupConfig, cellDir: string) {
  const backupsDir = config.backup.dir;
  if (!backupsDir) {
    throw new SynupError('refused', 'no backup dir configured: synup will not upgrade without a verified fresh backup', {
      hint: 'set backup.dir in synup.yaml (or SYNUP_BACKUP_DIR)',
    });
  }
  const { readCellInfo } = await import('../../lmdb/cellinfo.js');
  const { findUsableBackup } = await import('../../backup/find.js');
  const { guid, cellVersion } = await readCellInfo(cellDir);
  const maxAgeMs = config.backup.maxAge;
  const { backup, rejected, rehash } = await findUsableBackup({ backupsDir, cellGuid: guid ?? '', cellVersion, maxAgeMs });
  if (!backup) {
    const reasons = rejected.slice(0, 5).map((r) => `  ${path.basename(r.dir)}: ${r.reason}`).join('\n');
    throw new SynupError('refused', `no verified backup of this cell newer than ${formatDuration(maxAgeMs)} in ${backupsDir}${reasons ? '\n' + reasons : ''}`, {
      hint: 'run `synup backup` first, or pass --backup to make one now (before any downtime)',
    });
  }
  return { ...backup, rehash };
}

export const backupGate: Step = {
  name: 'backup-gate',
  title: 'Backup gate',
  describe: (p) =>
    p.settings?.dataOnVolume
      ? `Require a verified backup of this cell (same cell.guid) newer than ${formatConfigDuration(p.settings.backupMaxAgeMs)} on the backup claim, or make a cold one with --backup: checked (or made) by a Job once no pod is left (step cold-defrag: the volume attaches to one pod at a time).`
      : `Require a verified backup of this cell (same cell.guid) newer than ${p.settings ? formatConfigDuration(p.settings.backupMaxAgeMs) : 'backup.maxAge'}, or make one live now with --backup (before any downtime).`,
  async run(ctx) {
    if (ctx.run.data.backupDir) return;
    if (ctx.adapter.remoteData) {
      ctx.progress(`the data is on ${await ctx.adapter.remoteData.describe()}: the backup is ${ctx.options.makeBackup ? 'made' : 'checked'} by a Job once the pod is gone (the volume attaches to one pod at a time)`);
      return;
    }
    if (ctx.options.makeBackup) {
      const backupsDir = ctx.config.backup.dir;
      if (!backupsDir) throw new SynupError('refused', 'no backup dir configured for --backup', { hint: 'set backup.dir in synup.yaml (or SYNUP_BACKUP_DIR)' });
      ctx.progress(`making a live backup of ${ctx.cellDir} in ${backupsDir} (before any downtime)`);
      const { createBackup } = await import('../../backup/create.js');
      const made = await createBackup({
        cellDir: ctx.cellDir,
        backupsDir,
        mode: 'live',
        engine: ctx.config.backup.engine,
        jobs: ctx.config.backup.jobs,
        skipDirs: ctx.config.backup.skipDirs,
        python: ctx.config.backup.python,
        signal: ctx.signal,
      });
      if (!made.verification?.ok) {
        const problems = made.verification?.problems.slice(0, 3).map((p) => p.message).join('; ') ?? 'not verified';
        throw new SynupError('refused', `the backup just made in ${made.dir} did not verify: ${problems}`, { hint: 'nothing was stopped; investigate the cell with `synup inspect`' });
      }
      ctx.update((run) => {
        run.data.backupDir = made.dir;
        run.data.madeBackup = true;
      });
      return;
    }
    const backup = await requireUsableBackup(ctx.config, ctx.cellDir);
    const mbps = backup.rehash.durationMs > 0 ? ` at ${formatBytes((backup.rehash.bytes * 1000) / backup.rehash.durationMs)}/s` : '';
    ctx.progress(`backup ${backup.dir} (${formatDuration(backup.ageMs)} old, verified; ${formatBytes(backup.rehash.bytes)} re-hashed unchanged in ${formatDuration(backup.rehash.durationMs)}${mbps})`);
    ctx.update((run) => {
      run.data.backupDir = backup.dir;
    });
  },
  dryRun(ctx) {
    if (ctx.adapter.remoteData) return ['Would leave the backup to a Job on the volume once the pod is gone (step cold-defrag)'];
    return ctx.options.makeBackup
      ? [`Would make a live compacted backup of ${ctx.cellDir} into ${ctx.config.backup.dir ?? '(backup.dir unset!)'} and verify it`]
      : [`Would require a verified backup of this cell (cell.guid) newer than ${formatDuration(ctx.config.backup.maxAge)} in ${ctx.config.backup.dir ?? '(backup.dir unset!)'}`];
  },
};
