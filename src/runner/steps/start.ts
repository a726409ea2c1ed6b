import { SynupError } from '../../errors.js';
import type { ServiceStatus } from '../../service/adapter.js';
import type { Step, StepContext } from '../context.js';
import { stopService } from './stop.js';

/**
 * The new version's instance (container id, start time, restart count…) is recorded the first time the adapter
 * tells it; any other one later means it was restarted behind synup's back (Docker's `restart: unless-stopped`
 * after an OOM kill, systemd's `Restart=`): a failed boot, never a success (issue 20).
 */
export async function recordInstance(ctx: StepContext, status: ServiceStatus): Promise<void> {
  if (!status.instance || ctx.run.data.newInstance) return;
  ctx.update((run) => {
    run.data.newInstance ??= status.instance;
  });
}

/** Throws when the service now runs another instance than the one recorded. */
export function assertSameInstance(ctx: StepContext, status: ServiceStatus): void {
  const recorded = ctx.run.data.newInstance;
  if (recorded && status.instance && status.instance !== recorded) {
    throw new SynupError('failed', `the new version ${ctx.run.to} was restarted behind synup's back (a crashed boot): was ${recorded}, now ${status.instance}`, {
      hint: "the service's restart policy (Docker restart:, systemd Restart=, the kubelet) restarted it; see `synup logs` for why it died",
    });
  }
}

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
    await recordInstance(ctx, status.running ? status : await ctx.adapter.status());
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
