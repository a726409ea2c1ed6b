import type { Step } from '../context.js';
import { stopService } from './stop.js';

export const start: Step = {
  name: 'start',
  async run(ctx) {
    const status = await ctx.adapter.status();
    if (!status.running) await ctx.adapter.start(ctx.run.to);
    ctx.update((run) => {
      run.data.newStartedAt ??= new Date().toISOString();
    });
  },
  /** Stop the new version before its data is moved aside. */
  async undo(ctx) {
    await stopService(ctx);
  },
  dryRun(ctx) {
    return ctx.adapter.describe('start', ctx.plan.to).map((argv) => `Would run: ${argv.join(' ')}`);
  },
};
