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
    const argv = ctx.adapter.describe('disable-probes').map((a) => `Would run: ${a.join(' ')}`);
    if (ctx.adapter.name === 'process') return ['Nothing to do: a bare process has no probes'];
    if (ctx.adapter.name === 'kubernetes') return [...argv, "Would save the container's startupProbe and livenessProbe in the journal; they are never removed (the start patch widens the startupProbe to the budget)"];
    return [...argv, 'Would save the original probe spec in the journal'];
  },
};

export const probesOn: Step = {
  name: 'probes-on',
  title: 'Restore probes',
  describe: (_p, adapter) => adapter?.probesOn ?? 'Put the saved probe spec back exactly.',
  run: restore,
  dryRun(ctx) {
    if (ctx.adapter.name === 'process') return ['Nothing to do: a bare process has no probes'];
    const argv = ctx.adapter.describe('restore-probes').map((a) => `Would run: ${a.join(' ')}`);
    return ctx.adapter.name === 'kubernetes' ? [...argv, 'Would leave the widened startupProbe as it is (removing it would roll the pod again)'] : argv;
  },
};
