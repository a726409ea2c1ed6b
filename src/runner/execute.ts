import { SynupError, errorMessage } from '../errors.js';
import type { StepContext } from './context.js';
import { crashPoint } from './crash.js';
import { Interrupted } from '../interrupt.js';
import { JournalError, type RunRecord, type StepState } from './journal.js';
import { inodeOf, runDirs } from '../siblings.js';
import { FIRST_DOWNTIME_STEP, STEPS } from './steps/index.js';
import { ownedRunDir } from './owned.js';

export type RunResult = 'done' | 'rolled-back';

async function mark(ctx: StepContext, index: number, state: StepState, error?: string): Promise<void> {
  const step = STEPS[index]!;
  const now = new Date().toISOString();
  const record = ctx.update((run) => {
    const previous = run.steps[step.name] ?? { state: 'pending' };
    run.steps[step.name] = {
      ...previous,
      state,
      ...(state === 'running' || state === 'rolling-back' ? { startedAt: now, endedAt: undefined, error: undefined } : { endedAt: now }),
      ...(error ? { error } : {}),
    };
  });
  const rec = record.steps[step.name]!;
  const durationMs = rec.startedAt && rec.endedAt ? Date.parse(rec.endedAt) - Date.parse(rec.startedAt) : undefined;
  await ctx.emit({ type: 'step', step: step.name, state: state === 'pending' ? 'running' : state, title: step.title, durationMs, error });
}

export interface ExecuteOptions {
  /** Only these steps, in the upgrade's order: a rehearsal runs the new version's first boot, as the upgrade runs it. */
  only?: readonly string[];
  /** false: a failure ends the run as failed and nothing is undone (a rehearsal's scratch copy is thrown away). */
  undoOnFailure?: boolean;
}

/**
 * The one step executor (upgrade, resume, rehearsal): runs the steps not yet completed, in order. A failure before
 * any downtime undoes what was done (probes) and rethrows; a failure from `stop` on rolls back automatically and
 * resolves 'rolled-back' (exit 4).
 */
export async function executeSteps(ctx: StepContext, options: ExecuteOptions = {}): Promise<RunResult> {
  for (let i = 0; i < STEPS.length; i++) {
    const step = STEPS[i]!;
    if (options.only && !options.only.includes(step.name)) continue;
    if (ctx.run.steps[step.name]?.state === 'completed' || step.appliesTo?.(ctx.run.plan) === false) continue;
    if (ctx.signal?.aborted) return stopInterrupted(ctx, i, ctx.signal.reason);
    const skipped = step.skip?.(ctx);
    if (skipped) {
      await mark(ctx, i, 'skipped');
      ctx.progress(`${step.title} skipped: ${skipped}`);
      continue;
    }
    crashPoint(`${step.name}:before`);
    await mark(ctx, i, 'running');
    try {
      await step.run(ctx);
    } catch (error) {
      // A journal that cannot be written cannot record a rollback either: nothing is undone, the journal is named.
      if (error instanceof JournalError) throw error;
      await mark(ctx, i, 'failed', errorMessage(error));
      if (error instanceof Interrupted) return stopInterrupted(ctx, i + 1, error);
      if (i < FIRST_DOWNTIME_STEP || options.undoOnFailure === false) {
        if (options.undoOnFailure !== false) await undoSteps(ctx, i, error);
        ctx.update((run) => {
          run.outcome = 'failed';
          run.error = errorMessage(error);
          run.endedAt = new Date().toISOString();
        });
        throw error;
      }
      await rollback(ctx, error);
      return 'rolled-back';
    }
    await mark(ctx, i, 'completed');
    crashPoint(`${step.name}:after`);
  }
  return 'done';
}

/**
 * After SIGINT/SIGTERM, at a step boundary: before downtime the steps done are undone (probes) and the run ends
 * 'failed' with the service as it was; once the service was stopped, the run is rolled back. Either way `resume` has
 * nothing left to do; the caller reports and exits 128 + signal.
 */
async function stopInterrupted(ctx: StepContext, next: number, reason: Interrupted): Promise<RunResult> {
  if (!ctx.run.data.stoppedAt) {
    await undoSteps(ctx, next - 1, reason);
    const detail = reason.message.replace(/^interrupted by \w+:?\s*/, '');
    const message = `interrupted by ${reason.signalName} before any downtime: nothing was stopped, the service runs as before; run ${ctx.run.id} is marked failed, so \`synup resume\` has nothing to do${detail ? ` (${detail})` : ''}`;
    ctx.update((run) => {
      run.outcome = 'failed';
      run.error = message;
      run.endedAt = new Date().toISOString();
    });
    throw new Interrupted(reason.signalName, message, `run \`synup upgrade --to ${ctx.run.to}\` again when ready`);
  }
  await rollback(ctx, reason);
  return 'rolled-back';
}

/**
 * A rollback whose rollback point is gone would stop a healthy service and start the old version on new data: it is
 * refused before anything is stopped. Once the swap began, the original cell dir (by inode) must be at the cell's
 * path or at the run's pre dir.
 */
export function assertRollbackPoint(run: RunRecord, cellDir: string): void {
  const orig = run.data.origIno;
  if (orig === undefined || (run.data.swap !== 'moved-out' && run.data.swap !== 'swapped')) return;
  const pre = runDirs(cellDir, run.id).pre;
  if (inodeOf(cellDir) === orig || inodeOf(pre) === orig) return;
  throw new SynupError('refused', `cannot roll back run ${run.id}: its rollback point ${pre} is gone (pruned or moved); nothing was stopped`, {
    hint: 'the cell stays as it is; to go back, stop the service and `synup restore` a backup taken before the upgrade',
  });
}

/**
 * Undoes every step that ran (completed, failed, or interrupted), newest first. Each undo is idempotent, so a
 * rollback interrupted by a crash is simply run again by `synup resume`.
 */
export async function rollback(ctx: StepContext, cause: unknown): Promise<void> {
  assertRollbackPoint(ctx.run, ctx.cellDir);
  ctx.update((run) => {
    if (run.outcome === 'done') run.data.reopenedForRollbackAt = new Date().toISOString();
    run.outcome = 'rolling-back';
    run.error ??= errorMessage(cause);
  });
  await ctx.emit({ type: 'run', state: 'rolled-back', runId: ctx.run.id, message: `rolling back: ${errorMessage(cause)}` });
  const furthest = STEPS.reduce((max, s, i) => (ctx.run.steps[s.name] && ctx.run.steps[s.name]!.state !== 'pending' ? i : max), 0);
  await undoSteps(ctx, furthest, cause);
  ctx.update((run) => {
    run.outcome = 'rolled-back';
    run.endedAt = new Date().toISOString();
  });
}

async function undoSteps(ctx: StepContext, from: number, cause: unknown): Promise<void> {
  for (let i = from; i >= 0; i--) {
    const step = STEPS[i]!;
    const state = ctx.run.steps[step.name]?.state;
    if (!step.undo || !state || state === 'pending' || state === 'rolled-back' || state === 'skipped') continue;
    crashPoint(`rollback:${step.name}`);
    await mark(ctx, i, 'rolling-back');
    try {
      await step.undo(ctx);
    } catch (error) {
      await mark(ctx, i, 'rollback-failed', errorMessage(error));
      ctx.update((run) => {
        run.outcome = 'rollback-failed';
        run.rollbackError = errorMessage(error);
        run.endedAt = new Date().toISOString();
      });
      throw new SynupError('failed', `${errorMessage(cause)}; and the rollback failed at ${step.name}: ${errorMessage(error)}`, {
        hint: `the pre-upgrade data is in ${ownedRunDir(ctx.run, 'pre') ?? ctx.cellDir}; fix the cause and run \`synup resume\` to retry the rollback`,
        cause: error,
      });
    }
    await mark(ctx, i, 'rolled-back');
  }
}
