import { execa } from 'execa';
import { SynupError } from '../../errors.js';
import { readCellInfo } from '../../lmdb/cellinfo.js';
import type { Step } from '../context.js';

export const confirm: Step = {
  name: 'confirm',
  async run(ctx) {
    const to = ctx.run.to;
    const reported = await ctx.health.readVersion();
    if (reported !== null && reported !== to) {
      throw new SynupError('failed', `the service reports version ${reported}, expected ${to}`);
    }
    // The data is the ground truth: Synapse writes cell:version at boot (read-only open; LMDB allows a reader).
    const info = await readCellInfo(ctx.cellDir);
    if (info.cellVersion !== to) {
      throw new SynupError('failed', `the cell's data says version ${info.cellVersion ?? 'unknown'}, expected ${to}: the new version did not take over the data`);
    }
    const smoke = ctx.config.health.smoke;
    if (smoke) {
      const [cmd, ...args] = smoke;
      const result = await execa(cmd!, args, { reject: false, timeout: 120_000, stdin: 'ignore' });
      if (result.exitCode !== 0) {
        throw new SynupError('failed', `smoke check \`${smoke.join(' ')}\` failed (exit ${result.exitCode ?? result.signal}): ${String(result.stderr || result.stdout).split('\n')[0]}`);
      }
    }
    ctx.update((run) => {
      run.data.confirmedVersion = to;
    });
    ctx.progress(`version ${to} confirmed by ${reported ? 'the service and ' : ''}its data${smoke ? '; smoke check passed' : ''}`);
  },
  dryRun(ctx) {
    return [
      ctx.config.health.check === 'tool'
        ? `Would check the data's cell:version is ${ctx.plan.to} (the healthcheck tool does not tell the version)`
        : `Would check the running version (/api/v1/core/info) and the data's cell:version are ${ctx.plan.to}`,
      ...(ctx.config.health.smoke ? [`Would run smoke check: ${ctx.config.health.smoke.join(' ')}`] : []),
    ];
  },
};
