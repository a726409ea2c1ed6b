import { SynupError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../units.js';
import type { RemoteCellData } from '../../volume/remote.js';
import type { StepContext } from '../context.js';

/** Where the in-volume defrag keeps its copy and the old entries (src/volume/defrag.ts), as plans name them. */
export const VOLUME_NEW = '<volume>/.synup-defrag-<run>/new';
export const VOLUME_PRE = '<volume>/.synup-defrag-<run>/pre';

/**
 * cold-defrag for a cell whose data is on a volume (Kubernetes PVC), with the pod gone: Jobs read the data's version,
 * gate (or make) the backup — it could not be checked before the stop, the volume attaches to one pod at a time —
 * and defragment in place. A refusal here comes after the stop, so the runner starts the old version again.
 */
export async function remoteColdDefrag(ctx: StepContext, remote: RemoteCellData): Promise<void> {
  if (ctx.run.data.swap === 'swapped') return;
  const runId = ctx.run.id;
  const where = await remote.describe();
  const info = await remote.cellInfo(runId);
  if (info.cellVersion !== ctx.run.from) {
    throw new SynupError('refused', `the data on ${where} says version ${info.cellVersion ?? 'unknown'}, the plan starts from ${ctx.run.from} (the image tag)`, {
      hint: 'the image and the data disagree; find out why before upgrading (the old version is started again)',
    });
  }
  const margin = Math.ceil(info.compactedBytes * ctx.config.upgrade.freeSpaceMargin);
  if (info.freeBytes < info.compactedBytes + margin && !ctx.options.ignorePreflight.includes('free-space')) {
    throw new SynupError('refused', `[ERROR free-space] ${formatBytes(info.freeBytes)} free on ${where}, the compacted copy needs up to ${formatBytes(info.compactedBytes)} + ${formatBytes(margin)} margin`, {
      hint: 'grow the PVC (or remove old .synup-defrag-<run> dirs on it), or skip this check with --ignore-preflight=free-space',
    });
  }
  if (!ctx.run.data.backupDir) await remoteBackupGate(ctx, remote, runId, where);
  ctx.update((run) => {
    run.data.swap = 'moved-out';
  });
  ctx.progress(`defragmenting ${where} in a Job`);
  const result = await remote.defrag(runId);
  ctx.update((run) => {
    run.data.swap = 'swapped';
    run.data.engine = result.engine;
    run.data.bytesBefore = result.bytesBefore;
    run.data.bytesAfter = result.bytesAfter;
  });
  ctx.progress(`compacted with ${result.engine}: ${formatBytes(result.bytesBefore)} → ${formatBytes(result.bytesAfter)} in ${formatDuration(result.durationMs)}, verified`);
}

async function remoteBackupGate(ctx: StepContext, remote: RemoteCellData, runId: string, where: string): Promise<void> {
  if (ctx.options.makeBackup) {
    ctx.progress(`making a cold backup of ${where} in a Job`);
    const made = await remote.backup(runId);
    ctx.update((run) => {
      run.data.backupDir = made.dir;
      run.data.madeBackup = true;
    });
    return;
  }
  const { backup, rejected } = await remote.backupGate(runId, ctx.config.backup.maxAge);
  if (!backup) {
    throw new SynupError('refused', `no verified backup of this cell newer than ${formatDuration(ctx.config.backup.maxAge)} on the backup claim${rejected.length ? `: ${rejected.slice(0, 3).map((r) => r.reason).join('; ')}` : ''}`, {
      hint: 'pass --backup to make one: a cold backup by a Job on the backup claim, during this downtime',
    });
  }
  ctx.update((run) => {
    run.data.backupDir = backup.dir;
  });
  ctx.progress(`backup ${backup.dir} (${formatDuration(backup.ageMs)} old, verified)`);
}

/** Puts the pre-defrag data back inside the volume (a Job), once a defrag Job may have swapped anything. */
export async function remoteUndoDefrag(ctx: StepContext, remote: RemoteCellData): Promise<void> {
  if (ctx.run.data.swap !== 'moved-out' && ctx.run.data.swap !== 'swapped') return;
  const { restored } = await remote.undoDefrag(ctx.run.id);
  ctx.update((run) => {
    run.data.swap = 'none';
  });
  ctx.progress(`put back the pre-upgrade data (${restored.length} entries) on ${await remote.describe()}`);
}
