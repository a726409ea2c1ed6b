import { SynupError } from '../../errors.js';
import { runDirs } from '../../siblings.js';
import { formatDuration } from '../../units.js';
import { crashPoint } from '../crash.js';
import { JournalError } from '../journal.js';
import type { Step } from '../context.js';
import { compareWithCell, fallBackToCold, nexusIndexOf, removeShadow, restoreCellFiles, shadowAdapter, stopShadow, waitShadowCaughtUp } from '../shadow.js';
import { resumeSwap, swapIn, undoSwap } from './cold-defrag.js';

/**
 * At downtime (issue 24): the stopped cell's final nexus index read from its files; the shadow must reach it, is
 * stopped, made the cell's own again (its config files, its other files), checked, and swapped in by two renames.
 * Anything short of that: the shadow is removed and the cold defrag runs.
 */
export const shadowSwap: Step = {
  name: 'shadow-swap',
  title: 'Swap in the shadow (online defrag)',
  appliesTo: (plan) => plan.defrag?.mode === 'online',
  describe: () => `Read the stopped cell's final nexus index from its files; wait (up to upgrade.onlineDefrag.cutoverWait) until the shadow holds it, stop the shadow, give it the cell's own cell.yaml/cell.mods.yaml and other files, check it (cell guid, nexus index, config digests, every env readable with the same sub-dbs and entry counts), swap by two renames; the old dir is kept as ${runDirs('<dir>', '<run>').pre}. Short of any of it: the cold defrag runs.`,
  skip: (ctx) => (ctx.run.data.defrag?.mode === 'online' ? null : 'online defrag fell back; the cold defrag runs'),
  async run(ctx) {
    const shadowDir = runDirs(ctx.cellDir, ctx.run.id).shadow;
    if (resumeSwap(ctx, shadowDir, ctx.run.data.shadow?.verified === true) === 'swapped') return;
    const started = Date.now();
    try {
      const cellIndex = ctx.run.data.shadow?.cellIndex ?? (await nexusIndexOf(ctx.cellDir));
      ctx.update((run) => {
        run.data.shadow = { ...run.data.shadow, cellIndex, verified: false };
      });
      const shadowProcess = shadowAdapter(ctx);
      if ((await shadowProcess.status()).running) await waitShadowCaughtUp(ctx, shadowProcess, { target: cellIndex }, ctx.config.upgrade.onlineDefrag.cutoverWait);
      await stopShadow(ctx, { untilDataClosed: true });
      crashPoint('shadow-swap:shadow-stopped');
      const restored = await restoreCellFiles(ctx.cellDir, shadowDir);
      const problems = await compareWithCell(ctx.cellDir, shadowDir, cellIndex);
      if (problems.length) throw new SynupError('failed', `the shadow does not match the stopped cell: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? `; and ${problems.length - 4} more` : ''}`);
      ctx.update((run) => {
        run.data.shadow = { ...run.data.shadow, verified: true, cutoverMs: Date.now() - started };
      });
      ctx.progress(`the shadow holds the cell's final nexus index ${cellIndex}; ${restored.copied.length} file(s) taken from the cell; checked in ${formatDuration(Date.now() - started)}`);
    } catch (error) {
      if (error instanceof JournalError) throw error;
      return fallBackToCold(ctx, error);
    }
    swapIn(ctx, shadowDir, 'shadow-swap');
  },
  async undo(ctx) {
    await undoSwap(ctx);
    await removeShadow(ctx);
  },
  dryRun: (ctx) => [
          "Would read the stopped cell's final nexus index, wait until the shadow holds it, stop the shadow and give it the cell's own config and files",
          `Would check it against the stopped cell and swap by two renames: ${ctx.cellDir} → ${runDirs(ctx.cellDir, '<run>').pre}, ${runDirs(ctx.cellDir, '<run>').shadow} → ${ctx.cellDir}`,
        ],
};
