import { SynupError } from '../../errors.js';
import { formatBytes, formatDuration } from '../../units.js';
import type { CellDigest } from '../../backup/digest.js';
import { renameDurable } from '../../fsutil.js';
import { crashPoint } from '../crash.js';
import type { Step, StepContext } from '../context.js';
import { recordOwned, removeStaging } from '../owned.js';
import { inodeOf, runDirs } from '../../siblings.js';
import { remoteColdDefrag, remoteUndoDefrag, VOLUME_NEW, VOLUME_PRE } from './remote-data.js';

/** Runtime dirs of a Cortex that are not data (DESIGN.md); `backups/` is kept: it may hold the operator's backups. */
const NOT_DATA = ['**/tmp', '**/sockets'];

function markSwapped(ctx: StepContext): void {
  ctx.update((run) => {
    run.data.swap = 'swapped';
    run.owned = run.owned.filter((o) => o.kind !== 'staging' && o.kind !== 'shadow');
  });
}

/**
 * Where a swap killed part-way left the cell, put right: 'swapped' when `incoming` is already the cell (or is made
 * so, when `verified` and killed between the two renames), 'none' when the original is (back) at the cell's path.
 */
export function resumeSwap(ctx: StepContext, incoming: string, verified: boolean): 'swapped' | 'none' {
  const dirs = runDirs(ctx.cellDir, ctx.run.id);
  const orig = ctx.run.data.origIno!;
  const cellIno = inodeOf(ctx.cellDir);
  if (cellIno !== null && cellIno !== orig && inodeOf(dirs.pre) === orig) {
    markSwapped(ctx);
    return 'swapped';
  }
  if (cellIno === null && inodeOf(dirs.pre) === orig) {
    // Killed between the two renames.
    if (verified && inodeOf(incoming) !== null) {
      renameDurable(incoming, ctx.cellDir);
      markSwapped(ctx);
      return 'swapped';
    }
    renameDurable(dirs.pre, ctx.cellDir);
  }
  return 'none';
}

/** The swap, by two durable renames: the cell → its pre dir (the rollback point), `incoming` → the cell. */
export function swapIn(ctx: StepContext, incoming: string, step: string): void {
  const dirs = runDirs(ctx.cellDir, ctx.run.id);
  crashPoint(`${step}:before-swap`);
  renameDurable(ctx.cellDir, dirs.pre);
  recordOwned(ctx, dirs.pre, 'pre', ctx.run.data.origIno!);
  ctx.update((run) => {
    run.data.swap = 'moved-out';
  });
  crashPoint(`${step}:between-renames`);
  renameDurable(incoming, ctx.cellDir);
  markSwapped(ctx);
}

/** Puts the pre-upgrade dir back by rename: O(1) whatever the data size. The new data is kept as …synup-failed-<run>. */
export async function undoSwap(ctx: StepContext): Promise<void> {
  const dirs = runDirs(ctx.cellDir, ctx.run.id);
  const orig = ctx.run.data.origIno!;
  if (inodeOf(ctx.cellDir) !== orig && inodeOf(dirs.pre) === orig) {
    const current = inodeOf(ctx.cellDir);
    if (current !== null) {
      renameDurable(ctx.cellDir, dirs.failed);
      recordOwned(ctx, dirs.failed, 'failed', current);
    }
    crashPoint('rollback:between-renames');
    renameDurable(dirs.pre, ctx.cellDir);
    ctx.update((run) => {
      run.owned = run.owned.filter((o) => o.path !== dirs.pre);
    });
  }
  ctx.update((run) => {
    run.data.swap = 'none';
  });
}

async function compactAndVerify(ctx: StepContext, staging: string): Promise<void> {
  ctx.update((run) => {
    run.data.defragVerified = false;
  });
  const { copyCell } = await import('../../backup/copy.js');
  const { compareDigests, digestCell, envDigestOf } = await import('../../backup/digest.js');
  const result = await copyCell({
    src: ctx.cellDir,
    dst: staging,
    mode: 'cold',
    engine: ctx.config.backup.engine,
    jobs: ctx.config.backup.jobs,
    python: ctx.config.backup.python,
    skipDirs: NOT_DATA,
    // The stopped source's digest, taken from the very snapshot the copy read (one pass over the source, not two).
    digest: true,
    // On SIGINT/SIGTERM the env copy under way ends, the staging dir is removed, and the runner rolls back.
    signal: ctx.signal,
    onProgress: (e) => {
      const what = e.message?.trim() || e.env;
      if (what) ctx.progress(`${e.phase}: ${formatBytes(e.bytesDone)}/${formatBytes(e.bytesTotal)} ${what}`, { bytes: e.bytesDone, totalBytes: e.bytesTotal });
    },
  });
  recordOwned(ctx, staging, 'staging', inodeOf(staging)!);
  crashPoint('cold-defrag:copied');
  const walked = result.envs.every((e) => e.snapshot);
  const expected: CellDigest = walked
    ? { dir: ctx.cellDir, engine: 'native', envs: result.envs.map((e) => envDigestOf(e.path, e.snapshot!)) }
    : await digestCell(ctx.cellDir, { skipDirs: NOT_DATA });
  const actual = await digestCell(staging, { skipDirs: NOT_DATA });
  const problems = compareDigests(expected, actual);
  if (problems.length > 0) {
    throw new SynupError('failed', `the compacted copy does not match the stopped cell: ${problems.slice(0, 3).map((p) => p.message).join('; ')}`, {
      hint: 'nothing was swapped; the cell is untouched. Report this with `synup inspect` output',
    });
  }
  ctx.update((run) => {
    run.data.defragVerified = true;
    run.data.engine = result.engine;
    run.data.bytesBefore = result.diskBytesBefore;
    run.data.bytesAfter = result.diskBytesAfter;
    run.data.envs = result.envs.length;
  });
  ctx.progress(`${result.envs.length} envs compacted with ${result.engine}: ${formatBytes(result.diskBytesBefore)} → ${formatBytes(result.diskBytesAfter)} on disk in ${formatDuration(result.durationMs)}, verified`);
}

export const coldDefrag: Step = {
  name: 'cold-defrag',
  title: 'Cold defragmentation',
  describe: (p) =>
    p.settings?.dataOnVolume
      ? `Once no pod is left, Jobs on the cell's volume: cell-info (the data's version and free space), the backup gate (or --backup's cold backup) on the backup claim, then the defrag inside the volume: compact into ${VOLUME_NEW}, verify it against the stopped data (entries + digest per sub-db), swap entry by entry (durable renames); the old entries are kept in ${VOLUME_PRE}.`
      : `Compact every LMDB env into a staging dir next to the cell, verify it against the stopped cell (entries + digest per sub-db), swap by two renames; the old dir is kept as ${runDirs('<dir>', '<run>').pre}.`,
  skip: (ctx) => (ctx.run.data.defrag?.mode === 'online' ? 'online defrag: the shadow mirror was swapped in' : null),
  async run(ctx) {
    if (ctx.adapter.remoteData) return remoteColdDefrag(ctx, ctx.adapter.remoteData);
    const dirs = runDirs(ctx.cellDir, ctx.run.id);
    if (resumeSwap(ctx, dirs.staging, ctx.run.data.defragVerified === true) === 'swapped') return;
    await removeStaging(ctx);
    await compactAndVerify(ctx, dirs.staging);
    swapIn(ctx, dirs.staging, 'cold-defrag');
  },
  async undo(ctx) {
    if (ctx.adapter.remoteData) return remoteUndoDefrag(ctx, ctx.adapter.remoteData);
    await undoSwap(ctx);
    await removeStaging(ctx);
  },
  dryRun(ctx) {
    if (ctx.adapter.remoteData) {
      return [
        `Would run Jobs on the cell's volume (synup volume-job) once the pod is gone: cell-info, ${ctx.options.makeBackup ? 'a cold backup to the backup claim' : 'the backup gate on the backup claim'}, defrag (compact, verify, swap inside the volume)`,
        `Would keep the old entries in ${VOLUME_PRE} on the volume as the rollback point`,
      ];
    }
    const dirs = runDirs(ctx.cellDir, '<run>');
    return [
      `Would compact every LMDB env of ${ctx.cellDir} into ${dirs.staging} (engine ${ctx.config.backup.engine}) and copy the other files`,
      'Would verify the copy against the stopped cell (entries and digest of every sub-db)',
      `Would swap by two renames: ${ctx.cellDir} → ${dirs.pre}, ${dirs.staging} → ${ctx.cellDir}`,
    ];
  },
};
