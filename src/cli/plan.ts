import path from 'node:path';
import { usageError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { buildPlan, type DowntimeEstimate } from '../plan/index.js';
import { renderPlanText } from '../plan/text.js';
import { estimateCompactedBytes } from '../runner/estimate.js';
import { resolveCellDir } from '../config/cell-dir.js';
import { defaultStateDir } from '../config/schema.js';
import { latestPassingRehearsal } from '../runner/rehearsals.js';
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

/** Downtime from data size; the first boot from the newest passing rehearsal of the same from → to, if any. */
async function estimateFor(cellDir: string, stateDir: string, from: string, to: string): Promise<DowntimeEstimate> {
  const dataBytes = await estimateCompactedBytes(cellDir);
  const defragSeconds = dataBytes / COPY_BYTES_PER_S + (2 * dataBytes) / VERIFY_BYTES_PER_S;
  const { readCellInfo } = await import('../lmdb/cellinfo.js');
  const rehearsal = latestPassingRehearsal(stateDir, from, to, (await readCellInfo(cellDir)).guid);
  if (rehearsal?.migrationMs != null) return { dataBytes, defragSeconds, bootSeconds: rehearsal.migrationMs / 1000, basis: 'rehearsal' };
  return { dataBytes, defragSeconds, bootSeconds: null, basis: 'data size' };
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
  let plan = buildPlan({ changelog, from, to: flags.to });
  if (cellDir) {
    const stateDir = ctx.config().config.state.dir ?? defaultStateDir(ctx.env);
    plan = { ...plan, estimate: await estimateFor(cellDir, stateDir, plan.from, plan.to) };
  }
  const format = ctx.out.json ? 'json' : flags.format;
  const rendered =
    format === 'json' ? JSON.stringify(plan, null, 2) + '\n'
    : format === 'md' ? (await import('../plan/render.js')).renderPlanMarkdown(plan)
    : format === 'html' ? (await import('../plan/render.js')).renderPlanHtml(plan)
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
