import { statfs, stat } from 'node:fs/promises';
import path from 'node:path';
import { SynupError } from '../../errors.js';
import { formatBytes } from '../../cli/output.js';
import { readCellInfo } from '../../lmdb/cellinfo.js';
import { estimateCompactedBytes } from '../estimate.js';
import type { Step, StepContext } from '../context.js';

/** Named checks an operator can skip deliberately with --ignore-preflight=<name>. */
export const PREFLIGHT_CHECKS = ['data-version', 'service-version', 'free-space', 'same-filesystem'] as const;
export type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];

function check(ctx: StepContext, name: PreflightCheck, failed: string | null, hint: string): void {
  if (!failed) return;
  if (ctx.options.ignorePreflight.includes(name)) {
    ctx.progress(`[WARNING ${name}] ${failed} (ignored by --ignore-preflight=${name})`);
    return;
  }
  throw new SynupError('refused', `[ERROR ${name}] ${failed}`, { hint: `${hint}; or skip this check with --ignore-preflight=${name}` });
}

export const preflight: Step = {
  name: 'preflight',
  async run(ctx) {
    const info = await readCellInfo(ctx.cellDir);
    const { from, to } = ctx.plan;
    check(ctx, 'data-version', info.cellVersion !== from ? `the cell's data says version ${info.cellVersion ?? 'unknown'}, the plan starts from ${from}` : null,
      'make the plan from the cell (omit --from) or check --dir points at the right cell');

    const status = await ctx.adapter.status();
    if (status.running) {
      const running = await ctx.health.readVersion().catch(() => null);
      check(ctx, 'service-version', running && running !== from ? `the running service reports ${running}, its data says ${from}` : null,
        'the service and its data disagree; find out why before upgrading');
    }

    const parent = path.dirname(ctx.cellDir);
    const [cellStat, parentStat] = await Promise.all([stat(ctx.cellDir), stat(parent)]);
    check(ctx, 'same-filesystem', cellStat.dev !== parentStat.dev ? `${ctx.cellDir} is a mount point: staging in ${parent} would be on another filesystem, so the swap could not be a rename` : null,
      'mount the filesystem one level up (e.g. /data, with the cell in /data/cortex00)');

    const needed = await estimateCompactedBytes(ctx.cellDir);
    const margin = Math.ceil(needed * ctx.config.upgrade.freeSpaceMargin);
    const fs = await statfs(parent);
    const free = fs.bavail * fs.bsize;
    check(ctx, 'free-space', free < needed + margin ? `${formatBytes(free)} free on the cell's filesystem, the compacted copy needs up to ${formatBytes(needed)} + ${formatBytes(margin)} margin` : null,
      'free space next to the cell dir (old synup dirs: `synup prune`)');

    ctx.update((run) => {
      run.data.origIno = cellStat.ino;
      run.data.estimateBytes = needed;
    });
    ctx.progress(`cell ${info.guid ?? '?'} at ${from} → ${to}; ${ctx.plan.migrations.length} migration(s); ${formatBytes(free)} free, needs ≤ ${formatBytes(needed)}`);
  },
  dryRun(ctx) {
    return [
      `Would lock ${ctx.cellDir} for this run and read its version from slabs/cell.lmdb (cell:info)`,
      `Would check: ${PREFLIGHT_CHECKS.filter((c) => !ctx.options.ignorePreflight.includes(c)).join(', ')}`,
    ];
  },
};
