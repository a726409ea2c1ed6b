import { loadChangelogFor } from '../changelog/source.js';
import type { CommandContext } from '../config/context.js';
import { resolveCellDir } from '../config/cell-dir.js';
import { resolveStateDir, settingsOf } from '../config/settings.js';
import { normalizeVersion } from '../changelog/index.js';
import { errorMessage, SynupError, usageError } from '../errors.js';
import type { Changelog } from '../changelog/index.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { buildPlan, withPredictedBoot, type DefragChoice, type DowntimeEstimate, type PlanDocument } from '../plan/index.js';
import { describeSteps } from '../runner/steps/index.js';
import { adapterPlanText } from '../service/index.js';
import { refuseIfAhaDisagrees } from './aha-check.js';
import { unfinishedCellRun } from './cell-runs.js';
import { refuseMirrorsOfAnotherLeader, refuseStrandedFollowers } from './precheck.js';
import { loadDeployment, type Deployment, type DeploymentService } from './file.js';
import { buildDeploymentPlan, type DeploymentPlan, type ServiceImpact, type ServiceInput } from './plan.js';

/**
 * A command context for one service of the deployment: its own synup.yaml, in the role asked for; `changelog` is the
 * deployment file's for the service (as a --changelog flag would be).
 */
export function serviceContext(ctx: CommandContext, service: DeploymentService, role: 'leader' | 'mirror' = service.mirrorOf ? 'mirror' : 'leader', changelog?: string): CommandContext {
  const config = structuredClone(service.config);
  config.cell.role = role;
  config.cell.name ??= service.name;
  const settings = settingsOf({ config, file: service.configFile }, ctx.cwd, ctx.env, { changelog });
  return { ...ctx, config: () => settings, configIfAny: () => settings, stateDir: () => settings.stateDir, cellDir: () => settings.config.cell.dir, changelog: () => settings.config.changelog };
}

/** A Cortex's impact report (synup check) for a deployment plan; an error is recorded, not thrown. */
async function serviceImpact(sctx: CommandContext, cellDir: string, changelog: Changelog, to: string): Promise<ServiceImpact> {
  const { openCellSession } = await import('../runner/session.js');
  const { cellImpact } = await import('../runner/impact.js');
  try {
    return { report: await cellImpact({ ...openCellSession(sctx.config()), cellDir }, { changelog, to }) };
  } catch (error) {
    return { error: errorMessage(error) };
  }
}

/**
 * The defrag a service's upgrade will do: its synup.yaml's upgrade.defrag where it is upgraded as itself (a standalone
 * Cortex: the others have no Storm to ask for their backup); a mirror, and the old leader (upgraded as a mirror of the
 * new one), are never what clients wait on: cold.
 */
async function serviceDefrag(sctx: CommandContext, service: DeploymentService, cellDir: string): Promise<DefragChoice> {
  const requested = sctx.config().config.upgrade.defrag;
  if (service.mirrorOf || service.mirrors.length) {
    return { mode: 'cold', requested, reason: `${service.mirrorOf ? 'a mirror' : 'the old leader, upgraded as a mirror of the new one'}: its defrag is no client's downtime` };
  }
  const { openCellSession } = await import('../runner/session.js');
  const { chooseDefrag } = await import('../runner/defrag-choice.js');
  // A dir may be missing: a run killed between its two swap renames, which its resume puts right.
  const session = openCellSession(sctx.config(), { allowMissing: true });
  return chooseDefrag({ ...session, cellDir, config: { ...session.config, cell: { ...session.config.cell, kind: service.kind } } }, requested);
}

/** The changelog the deployment file names for a service: its own, else the deployment's. */
export const serviceChangelog = (deployment: Deployment, service: DeploymentService) => service.changelog ?? deployment.changelog ?? undefined;

export const deploymentStateDir = (deployment: Deployment, env: NodeJS.ProcessEnv) => resolveStateDir(deployment.stateDir ?? undefined, env);

export interface PreparedDeployment {
  deployment: Deployment;
  inputs: ServiceInput[];
  plan: DeploymentPlan;
}

/**
 * Deployment file → every service's version (read from its data), target, changelog and single-cell plan → the
 * deployment plan. Refuses before anything is touched: a service whose data cannot tell its version, a target
 * missing, a downgrade; with `checkAha` (a new plan or run), a file whose roles AHA contradicts (deploy/aha-check.ts);
 * with `precheck` (a new plan or run), a mirror that follows another leader or would be left on the old leader's
 * address (deploy/precheck.ts).
 */
export async function prepareDeployment(ctx: CommandContext, file: string, toFlag: string | undefined, options: { estimate?: boolean; targets?: Record<string, string>; checkAha?: boolean; resume?: boolean; precheck?: boolean; impact?: boolean } = {}): Promise<PreparedDeployment> {
  const deployment = loadDeployment(file, ctx.cwd, ctx.env);
  if (options.precheck) refuseStrandedFollowers(deployment);
  if (options.checkAha) await refuseIfAhaDisagrees(deployment, ctx.env);
  const deploymentTo = toFlag ?? deployment.to ?? undefined;
  const inputs: ServiceInput[] = [];
  const estimates = new Map<string, DowntimeEstimate | null>();
  for (const service of deployment.services) {
    const to = options.targets?.[service.name] ?? service.to ?? deploymentTo;
    if (!to) throw usageError(`no target version for ${service.name}`, 'pass --to <version>, or set to: in the deployment file (per service for a power-up with its own releases)');
    const sctx = serviceContext(ctx, service, undefined, serviceChangelog(deployment, service));
    // Resumed after synup was killed during this service's upgrade: its dir may be mid-swap; its run knows the version.
    const cellDir = resolveCellDir(service.config.cell.dir, ctx.cwd, { allowMissing: options.resume });
    const interrupted = options.resume ? await unfinishedCellRun(sctx.stateDir(), cellDir) : null;
    const info = interrupted ? { cellVersion: interrupted.from, guid: null } : await readCellInfo(cellDir);
    if (!info.cellVersion) {
      throw new SynupError('refused', `${service.name}: cannot tell the version of ${cellDir}: slabs/cell.lmdb has no cell:info cell:version`, { hint: 'is this a Synapse service storage dir that has booted at least once?' });
    }
    const changelog = await loadChangelogFor(sctx, to);
    const target = normalizeVersion(to, service.to ? `services ${service.name} to` : '--to');
    const from = normalizeVersion(info.cellVersion, `${service.name}'s cell:version`);
    let plan: PlanDocument | null = null;
    if (from !== target) {
      try {
        const single = buildPlan({ changelog, from, fromLabel: `${service.name} (at ${from}, slabs/cell.lmdb)`, to: target, dir: cellDir, config: sctx.config().config });
        single.defrag = await serviceDefrag(sctx, service, cellDir);
        plan = { ...single, steps: describeSteps(single, adapterPlanText(service.config.service.adapter)) };
      } catch (error) {
        if (error instanceof SynupError) throw new SynupError(error.code, `${service.name}: ${error.message}`, { hint: error.hint });
        throw error;
      }
      if (options.estimate) {
        const { estimateDowntime } = await import('../runner/estimate.js');
        plan.estimate = await estimateDowntime(cellDir, info.guid, sctx.stateDir(), plan);
        estimates.set(service.name, plan.estimate);
      }
    }
    let impact: ServiceImpact | null = null;
    if (options.impact && plan && service.kind === 'cortex') {
      impact = await serviceImpact(sctx, cellDir, changelog, target);
      if ('report' in impact && plan.estimate) {
        plan.estimate = withPredictedBoot(plan.estimate, impact.report);
        estimates.set(service.name, plan.estimate);
      }
    }
    inputs.push({ service, cellDir, from, to: target, changelog: changelog.source, plan, impact });
  }
  if (options.precheck) await refuseMirrorsOfAnotherLeader(deployment);
  return { deployment, inputs, plan: buildDeploymentPlan(deployment, inputs, estimates) };
}
