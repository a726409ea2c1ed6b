import path from 'node:path';
import { usageError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { buildPlan, renderPlanHtml, renderPlanMarkdown, renderPlanText, type DowntimeEstimate } from '../plan/index.js';
import { estimateCompactedBytes } from '../runner/estimate.js';
import { resolveCellDir } from '../config/cell-dir.js';
import type { CommandContext } from './context.js';
import { loadChangelogFor } from './changelog-source.js';
import { emitJson, say } from './output.js';

interface PlanFlags {
  from?: string;
  to: string;
  changelog?: string;
  dir?: string;
  format: 'text' | 'json' | 'md' | 'html';
  output?: string;
}

/** Measured on these machines (DESIGN.md): compact copy into an fd ≈ 150 MB/s, reading+hashing ≈ 800 MB/s. */
const COPY_BYTES_PER_S = 150e6;
const VERIFY_BYTES_PER_S = 800e6;

async function estimateFor(cellDir: string): Promise<DowntimeEstimate> {
  const dataBytes = await estimateCompactedBytes(cellDir);
  return { dataBytes, defragSeconds: dataBytes / COPY_BYTES_PER_S + (2 * dataBytes) / VERIFY_BYTES_PER_S, bootSeconds: null, basis: 'data size' };
}

export async function runPlan(ctx: CommandContext, _args: string[], flags: PlanFlags): Promise<number> {
  const cellDir = flags.dir ? resolveCellDir(flags.dir, ctx.cwd) : undefined;
  let from = flags.from;
  if (!from) {
    if (!cellDir) throw usageError('no current version: pass --from <version>, or --dir <cell dir> to read it from the cell');
    const { readCellInfo } = await import('../lmdb/cellinfo.js');
    const info = await readCellInfo(cellDir);
    if (!info.cellVersion) throw usageError(`cannot read the version of ${cellDir} (no cell:version in slabs/cell.lmdb); pass --from`);
    from = info.cellVersion;
  }
  const changelog = await loadChangelogFor(ctx, flags.changelog);
  const plan = buildPlan({ changelog, from, to: flags.to, estimate: cellDir ? await estimateFor(cellDir) : null });
  const format = ctx.out.json ? 'json' : flags.format;
  const rendered =
    format === 'json' ? JSON.stringify(plan, null, 2) + '\n'
    : format === 'md' ? renderPlanMarkdown(plan)
    : format === 'html' ? renderPlanHtml(plan)
    : renderPlanText(plan) + '\n';
  if (flags.output) {
    const file = path.resolve(ctx.cwd, flags.output);
    writeFileAtomic(file, rendered, 0o644);
    say(ctx.out, `Wrote ${format} plan ${plan.from} → ${plan.to} to ${file}`);
    if (ctx.out.json) emitJson(ctx.out, { written: file, format });
    return 0;
  }
  if (format === 'text') ctx.out.stderr.write(rendered);
  else ctx.out.stdout.write(rendered);
  return 0;
}
