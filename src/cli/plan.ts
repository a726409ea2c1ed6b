import path from 'node:path';
import { normalizeVersion } from '../changelog/index.js';
import { resolveCellDir } from '../config/cell-dir.js';
import { usageError } from '../errors.js';
import { checkOutputFile, writeOutputFile } from '../fsutil.js';
import { buildPlan, withPredictedBoot, renderPlanHtml, renderPlanMarkdown, renderPlanText, type PlanDocument, type RunbookExtras, type UpgradePlan } from '../plan/index.js';
import { estimateDowntime } from '../runner/estimate.js';
import { describeSteps } from '../runner/steps/index.js';
import { loadChangelogFor } from '../changelog/source.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';

interface PlanFlags {
  from?: string;
  to: string;
  dir?: string;
  format: 'text' | 'json' | 'md' | 'html';
  output?: string;
  impact?: boolean;
  defrag?: 'cold' | 'online';
}

/** The version the cell's own data says it is at (slabs/cell.lmdb, cell:info), checked against --from if given. */
async function cellVersion(cellDir: string, from: string | undefined): Promise<{ version: string; guid: string | null }> {
  const { readCellInfo } = await import('../lmdb/cellinfo.js');
  const info = await readCellInfo(cellDir);
  if (!info.cellVersion) {
    if (from) return { version: from, guid: info.guid };
    throw usageError(`cannot read the version of ${cellDir}: no cell:version in slabs/cell.lmdb`, 'pass --from <version>');
  }
  if (from && normalizeVersion(from, '--from') !== normalizeVersion(info.cellVersion, 'cell:version')) {
    throw usageError(`--from ${from} does not match ${cellDir}, whose data is at ${info.cellVersion} (slabs/cell.lmdb cell:version)`, 'drop --from to plan from the version the cell is really at');
  }
  return { version: info.cellVersion, guid: info.guid };
}

/** For a known cell: the exact commands each step runs with the configured adapter, and the manual rollback. */
async function runbookExtras(ctx: CommandContext, plan: UpgradePlan): Promise<RunbookExtras> {
  const { openCellSession } = await import('../runner/session.js');
  const { dryRunActions, manualRollback } = await import('../runner/dry-run.js');
  const session = openCellSession(ctx.config());
  const options = { makeBackup: false, ignorePreflight: session.config.upgrade.ignorePreflight };
  const actions = Object.fromEntries(dryRunActions(session, plan, options, ctx.out).map((s) => [s.name, s.actions]));
  return { actions, rollback: manualRollback(session, plan), title: `Synapse upgrade of ${session.cellName}: ${plan.from} → ${plan.to} (${session.adapter.name} adapter)` };
}

/** `synup plan`: what an upgrade from → to crosses (migrations, warnings) and does (the ten steps), in four formats. */
export async function runPlan(ctx: CommandContext, _args: string[], flags: PlanFlags): Promise<number> {
  // Without a config file or SYNUP_* variable the plan is made without settings (and without loading yaml or zod).
  const config = ctx.configIfAny()?.config;
  if (ctx.out.json && flags.format !== 'text' && flags.format !== 'json') {
    throw usageError(`--json and --format ${flags.format} ask for two different outputs`, `drop --json to get ${flags.format}, or drop --format to get the plan as JSON`);
  }
  const outputFile = flags.output ? path.resolve(ctx.cwd, flags.output) : undefined;
  if (outputFile) checkOutputFile(outputFile, '-o');
  // --from alone plans from that version: the configured cell is not read.
  const dirGiven = flags.from && flags.dir === undefined ? undefined : ctx.cellDir();
  const cellDir = dirGiven ? resolveCellDir(dirGiven, ctx.cwd) : undefined;
  const cell = cellDir ? await cellVersion(cellDir, flags.from) : null;
  const from = cell?.version ?? flags.from;
  if (!from) throw usageError('no current version: pass --from <version>, or --dir <cell dir> to read it from the cell', 'or set cell.dir in synup.yaml');
  const changelog = await loadChangelogFor(ctx, flags.to);
  const fromLabel = cellDir && !flags.from ? `the version of ${cellDir} (slabs/cell.lmdb)` : '--from';
  const plan = buildPlan({ changelog, from, fromLabel, to: flags.to, dir: cellDir, config });
  if (cellDir) plan.estimate = await estimateDowntime(cellDir, cell?.guid ?? null, ctx.stateDir(), plan);
  if (flags.defrag && !(cellDir && config)) throw usageError('--defrag needs the cell and its synup.yaml: which defrag can run depends on both', 'run it where synup.yaml is (or pass -c <synup.yaml>)');
  if (cellDir && config) {
    const { openCellSession } = await import('../runner/session.js');
    const { chooseDefrag } = await import('../runner/defrag-choice.js');
    plan.defrag = chooseDefrag({ ...openCellSession(ctx.config()), cellDir }, flags.defrag ?? config.upgrade.defrag);
  }
  // The configured adapter's words for its actions; the registry loads the adapters, so only when there is a config.
  const adapter = config ? (await import('../service/index.js')).adapterPlanText(config.service.adapter) : null;
  const document: PlanDocument = { ...plan, steps: describeSteps(plan, adapter) };
  if (flags.impact) {
    // What the upgrade touches in this cell (synup check); its predicted migration time (calibrated by the newest
    // measured boot of the same migrations) is the first boot's.
    if (!cellDir) throw usageError('--impact needs the cell: set cell.dir in synup.yaml (or pass --dir)');
    const { openCellSession } = await import('../runner/session.js');
    const { cellImpact } = await import('../runner/impact.js');
    const session = openCellSession(ctx.config());
    document.impact = await cellImpact({ ...session, cellDir }, { changelog, to: plan.to });
    if (plan.estimate) document.estimate = withPredictedBoot(plan.estimate, document.impact);
  }

  const format = ctx.out.json ? 'json' : flags.format;
  const extras = cellDir && (format === 'md' || format === 'html') ? await runbookExtras(ctx, plan) : {};
  const rendered =
    format === 'json' ? JSON.stringify(document, null, ctx.out.json ? undefined : 2) + '\n'
    : format === 'md' ? renderPlanMarkdown(document, extras)
    : format === 'html' ? renderPlanHtml(document, extras)
    : renderPlanText(document) + '\n';
  if (outputFile) {
    writeOutputFile(outputFile, rendered, '-o');
    say(ctx.out, `Wrote ${format} plan ${plan.from} → ${plan.to} to ${outputFile}`);
    if (ctx.out.json) emitJson(ctx.out, { written: outputFile, format });
    return 0;
  }
  (format === 'text' ? ctx.out.stderr : ctx.out.stdout).write(rendered);
  return 0;
}
