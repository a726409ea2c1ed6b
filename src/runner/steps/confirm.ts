import { SynupError } from '../../errors.js';
import type { Step } from '../context.js';
import { DATA_ONLY_CONFIRM } from '../../plan/index.js';

export const confirm: Step = {
  name: 'confirm',
  title: 'Confirm the version',
  describe: (p) =>
    p.settings?.dataOnVolume
      ? `The healthcheck through the new pod (image tag v${p.to}) stands for the version: the data on the volume is read only by the running pod${p.settings.smokeCheck ? '; run the configured smoke check' : '; no smoke check configured (health.smoke)'}.`
      : `${p.settings && !p.settings.serviceVersionCheck ? `The data's cell:info must say ${p.to} (WARNING: ${DATA_ONLY_CONFIRM})` : `The service (a Storm call, $lib.version.synapse()) and the data's cell:info must both say ${p.to}`}${p.settings ? (p.settings.smokeCheck ? '; run the configured smoke check' : '; no smoke check configured (health.smoke)') : '; run the smoke check if one is configured'}.`,
  async run(ctx) {
    const to = ctx.run.to;
    // What answers must be what synup started: the process it started holds cell.guid (process adapter).
    const impostor = await ctx.adapter.startedInstanceProblem?.('holder');
    if (impostor) throw new SynupError('failed', `the service answering is not the one synup started: ${impostor}`, { hint: 'is another synup, a second config or a service manager running this cell too?' });
    const reported = await ctx.health.readVersion();
    if (reported === null) {
      const why =
        ctx.config.health.check === 'tool'
          ? 'the healthcheck tool does not tell the version: confirm checks only the data'
          : ctx.config.health.password === undefined
            ? DATA_ONLY_CONFIRM
            : 'the service refused health.username/health.password: confirm can check only the data';
      ctx.progress(`WARNING: ${why}`);
    }
    if (reported !== null && reported !== to) {
      throw new SynupError('failed', `the service reports version ${reported}, expected ${to}`);
    }
    // The data is the ground truth: Synapse writes cell:version at boot (read-only open; LMDB allows a reader). On a
    // volume only the running pod can read it: the healthcheck through it (wait-migrations) stands for it there.
    const { readCellInfo } = await import('../../lmdb/cellinfo.js');
    const info = ctx.adapter.remoteData ? null : await readCellInfo(ctx.cellDir);
    if (info && info.cellVersion !== to) {
      throw new SynupError('failed', `the cell's data says version ${info.cellVersion ?? 'unknown'}, expected ${to}: the new version did not take over the data`);
    }
    const smoke = ctx.config.health.smoke;
    if (smoke) {
      const [cmd, ...args] = smoke;
      const { execa } = await import('execa');
      const { outputCut, TOOL_OUTPUT_LIMITS } = await import('../../proc.js');
      const result = await execa(cmd!, args, { reject: false, timeout: 120_000, stdin: 'ignore', maxBuffer: TOOL_OUTPUT_LIMITS });
      if (result.exitCode !== 0 || outputCut(result)) {
        throw new SynupError('failed', `smoke check \`${smoke.join(' ')}\` failed (${outputCut(result) ?? `exit ${result.exitCode ?? result.signal}`}): ${String(result.stderr || result.stdout).split('\n')[0]!.slice(0, 300)}`);
      }
    }
    ctx.update((run) => {
      run.data.confirmedVersion = to;
    });
    ctx.progress(`version ${to} confirmed by ${[reported ? 'the service' : null, info ? 'its data' : 'its image tag'].filter(Boolean).join(' and ')}${smoke ? '; smoke check passed' : ''}`);
  },
  dryRun(ctx) {
    return [
      ctx.adapter.remoteData
        ? `Would take the healthy new pod (image tag v${ctx.plan.to}) for the version: the data on the volume is read only by that pod`
        : ctx.config.health.check === 'tool'
        ? `Would check the data's cell:version is ${ctx.plan.to} (the healthcheck tool does not tell the version)`
        : ctx.config.health.password === undefined
          ? `Would check the data's cell:version is ${ctx.plan.to} (WARNING: ${DATA_ONLY_CONFIRM})`
          : `Would check the running version (Storm $lib.version.synapse()) and the data's cell:version are ${ctx.plan.to}`,
      ...(ctx.config.health.smoke ? [`Would run smoke check: ${ctx.config.health.smoke.join(' ')}`] : []),
    ];
  },
};
