import { crashPoint } from '../crash.js';
import { JournalError } from '../journal.js';
import type { Step } from '../context.js';
import { onlineDefragProblem } from '../defrag-choice.js';
import { fallBackToCold, removeShadow, shadowAdapter, takeShadowCopy, waitShadowCaughtUp, writeShadowConf } from '../shadow.js';
import { runDirs } from '../../siblings.js';
import { formatDuration } from '../../units.js';

/** Before any downtime (issue 24): a compacted shadow mirror of the running cell, caught up with it. */
export const shadow: Step = {
  name: 'shadow',
  title: 'Shadow mirror (online defrag)',
  appliesTo: (plan) => plan.defrag?.mode === 'online',
  describe: (p) => `While the cell runs: ask it for its own backup (Storm $lib.backup.run: compacted, consistent with its nexus index), rename it to ${runDirs('<dir>', '<run>').shadow}, start it with ${p.from} as a passive mirror of ${p.defrag?.follows ?? 'the cell'} with no listener and no AHA registration, and wait until it holds every nexus entry the cell has. Any problem: the shadow is removed and the cold defrag runs.`,
  async run(ctx) {
    if (ctx.run.data.defrag) return;
    try {
      const where = onlineDefragProblem({ ...ctx, cellName: ctx.run.cellName, stateDir: ctx.stateDir });
      if (typeof where === 'string') throw new Error(where);
      const shadowProcess = shadowAdapter(ctx);
      if (!ctx.run.data.shadow?.caughtUpMs && !(await shadowProcess.status()).running) {
        // A shadow half made by a synup that was killed (its backup may still be being written) is not trusted.
        if (ctx.run.data.shadow?.backupPath) await removeShadow(ctx);
        await takeShadowCopy(ctx, where.backupRoot);
        crashPoint('shadow:copied');
        writeShadowConf(runDirs(ctx.cellDir, ctx.run.id).shadow, where.leaderUrl);
        await shadowProcess.start(ctx.run.from);
        crashPoint('shadow:started');
      }
      const { catchUpTimeout, cutoverWait } = ctx.config.upgrade.onlineDefrag;
      const caught = await waitShadowCaughtUp(ctx, shadowProcess, { lagMs: cutoverWait / 2 }, catchUpTimeout);
      ctx.update((run) => {
        run.data.shadow = { ...run.data.shadow, caughtUpMs: caught.waitedMs };
        run.data.defrag = { mode: 'online', reason: run.plan.defrag!.reason };
      });
      ctx.progress(`the shadow mirror holds nexus index ${caught.shadowIndex} (the cell's: ${caught.leaderIndex}) after ${formatDuration(caught.waitedMs)}; it keeps following until the cell stops`);
    } catch (error) {
      if (error instanceof JournalError) throw error;
      await fallBackToCold(ctx, error);
    }
  },
  undo: removeShadow,
  dryRun: (ctx) => [
          `Would ask the running cell for its own backup (Storm $lib.backup.run) and rename it to ${runDirs(ctx.cellDir, '<run>').shadow}`,
          `Would start it with ${ctx.plan.from} as a mirror of ${ctx.plan.defrag?.follows ?? 'the cell'} (no HTTPS, no telepath listener, no AHA registration) and wait until it caught up`,
        ],
};
