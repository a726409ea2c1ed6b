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
    `Save the startup/liveness probe spec in the journal and disable the probes${p.probesMustBeDisabled ? ' (required: migrations make the first boot slow and probes would kill it)' : ''}${adapter ? `: ${adapter.probesOff}` : ''}.`,
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
    return ctx.adapter.describe('disable-probes').map((argv) => `Would run: ${argv.join(' ')}`).concat(['Would save the original probe spec in the journal']);
  },
};

export const probesOn: Step = {
  name: 'probes-on',
  title: 'Restore probes',
  describe: () => 'Put the saved probe spec back exactly.',
  run: restore,
  dryRun(ctx) {
    return ctx.adapter.describe('restore-probes').map((argv) => `Would run: ${argv.join(' ')}`);
  },
};
