import type { Step } from '../context.js';
import { stopService } from './stop.js';

export const start: Step = {
  name: 'start',
  title: 'Start the new version',
  describe: (p, adapter) => `Switch the service to ${p.to} and start it${adapter ? `: ${adapter.start(p.to)}` : ''}.`,
  async run(ctx) {
    // Recorded before starting, so following the log from here misses none of the first boot's lines.
    ctx.update((run) => {
      run.data.newStartedAt ??= new Date().toISOString();
    });
    const status = await ctx.adapter.status();
    if (!status.running) await ctx.adapter.start(ctx.run.to);
    const running = await ctx.adapter.runningArtifacts?.();
    if (running) {
      ctx.update((run) => {
        run.data.runningArtifacts = running;
      });
      ctx.progress(`running ${running.image} (${running.digests.join(', ') || running.id || 'no digest'})`);
    }
  },
  /** Stop the new version before its data is moved aside. */
  async undo(ctx) {
    await stopService(ctx);
  },
  dryRun(ctx) {
    return ctx.adapter.describe('start', ctx.plan.to).map((argv) => `Would run: ${argv.join(' ')}`);
  },
};
