import type { Step, StepContext } from '../context.js';

async function restore(ctx: StepContext): Promise<void> {
  if (!ctx.run.data.probesDisabled) return;
  await ctx.adapter.restoreProbes(ctx.run.data.savedProbes ?? {});
  ctx.update((run) => {
    run.data.probesDisabled = false;
  });
}

export const probesOff: Step = {
  name: 'probes-off',
  title: 'Disable probes',
  describe: (p, adapter) =>
    adapter?.probesOff(p.probesMustBeDisabled) ??
    `Save the startup/liveness probe spec in the journal and disable the probes${p.probesMustBeDisabled ? ' (required: migrations make the first boot slow and probes would kill it)' : ''}.`,
  async run(ctx) {
    if (ctx.run.data.probesDisabled) return;
    if (ctx.run.data.probesDisabling && ctx.adapter.name !== 'process') {
      // Killed between disabling and recording: the live spec may no longer be the original one.
      throw new Error('synup was interrupted while disabling probes, before it recorded the originals; restore the startup/liveness probes by hand from your manifests');
    }
    ctx.update((run) => {
      run.data.probesDisabling = true;
    });
    const saved = await ctx.adapter.disableProbes();
    ctx.update((run) => {
      run.data.savedProbes = saved;
      run.data.probesDisabled = true;
      run.data.probesDisabling = false;
    });
  },
  undo: restore,
  dryRun(ctx) {
    // The adapter's own words (a bare process has none to disable; Kubernetes never removes them).
    return [...ctx.adapter.describe('disable-probes').map((a) => `Would run: ${a.join(' ')}`), `Would: ${ctx.adapter.plan.probesOff(ctx.plan.probesMustBeDisabled)}`];
  },
};

export const probesOn: Step = {
  name: 'probes-on',
  title: 'Restore probes',
  describe: (_p, adapter) => adapter?.probesOn ?? 'Put the saved probe spec back exactly.',
  run: restore,
  dryRun(ctx) {
    return [...ctx.adapter.describe('restore-probes').map((a) => `Would run: ${a.join(' ')}`), `Would: ${ctx.adapter.plan.probesOn}`];
  },
};
