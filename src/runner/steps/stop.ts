import { SynupError } from '../../errors.js';
import { ServiceExited } from '../../service/exit-watch.js';
import { formatConfigDuration, formatDuration } from '../../units.js';
import type { Step, StepContext } from '../context.js';

/** Proves the service is really gone: nobody holds cell.guid's lock or a reader slot in any lock.mdb. */
export async function assertNothingHolds(ctx: StepContext): Promise<void> {
  const { findHolders } = await import('../../lmdb/holders.js');
  const { stillHeldAfterStop } = await import('../../safety/held.js');
  const holders = await findHolders(ctx.cellDir);
  if (holders.length > 0) throw stillHeldAfterStop(holders);
}

export async function stopService(ctx: StepContext): Promise<void> {
  const status = await ctx.adapter.status();
  if (status.running || (status.leftoverPids?.length ?? 0) > 0) {
    const result = await ctx.adapter.stop({ timeoutMs: ctx.config.service.stopTimeout });
    const what = status.running ? 'stopped' : `stopped what it left behind (pids ${status.leftoverPids!.join(', ')})`;
    ctx.progress(`${what} in ${formatDuration(result.durationMs)}${result.forced ? ' (forced: it ignored the graceful stop)' : ''}`);
  }
  await assertNothingHolds(ctx);
}

export const stop: Step = {
  name: 'stop',
  title: 'Stop the service',
  describe: (p, adapter) => {
    const deadline = p.settings ? formatConfigDuration(p.settings.stopTimeoutMs) : null;
    const how = adapter ? adapter.stop(deadline) : `Graceful stop with a ${deadline ? `${deadline} ` : ''}deadline, then forced`;
    // On a volume nothing on this host can hold the data: the Jobs start only once no pod is left.
    return `${how}${p.settings?.dataOnVolume ? '; the volume is touched only once no pod is left' : '; prove nothing holds cell.guid or a lock.mdb reader slot'}.`;
  },
  async run(ctx) {
    if (!ctx.run.data.stoppedAt) {
      ctx.update((run) => {
        run.data.stoppedAt = new Date().toISOString();
      });
    }
    await stopService(ctx);
  },
  /** Start the old version again (its data is back in place by now: cold-defrag's undo ran first), if it ran before. */
  async undo(ctx) {
    if (ctx.run.data.wasRunning === false) {
      ctx.progress(`left stopped, as it was before the upgrade (old version ${ctx.run.from} and its data are back in place)`);
      return;
    }
    const status = await ctx.adapter.status();
    if (!status.running) await ctx.adapter.start(ctx.run.from);
    // An old version that exits ends the wait at once (ServiceExited), with its last error line.
    await ctx.health.waitForActive({ deadlineMs: ctx.config.health.startTimeout, signal: AbortSignal.timeout(ctx.config.health.startTimeout + 1000) }).catch((error: unknown) => {
      if (error instanceof ServiceExited) throw new SynupError('failed', `the old version ${ctx.run.from} did not start again: ${error.how}`, { hint: error.hint });
      throw error;
    });
    ctx.progress(`old version ${ctx.run.from} is active again`);
  },
  dryRun(ctx) {
    return [
      ...ctx.adapter.describe('stop').map((argv) => `Would run: ${argv.join(' ')} (graceful, ${formatDuration(ctx.config.service.stopTimeout)} deadline, then forced)`),
      ctx.adapter.remoteData ? `Would wait until no pod of ${ctx.adapter.remoteData.owner} is left (then force-delete what is)` : 'Would confirm no process holds cell.guid or any lock.mdb reader slot',
    ];
  },
};
