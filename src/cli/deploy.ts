import path from 'node:path';
import { usageError } from '../errors.js';
import { checkOutputFile, writeOutputFile } from '../fsutil.js';
import type { CommandContext } from '../config/context.js';
import { columns, emitJson, say } from '../ui/output.js';

export { runDeployDiscover } from './deploy-discover.js';

interface DeployPlanFlags {
  file: string;
  to?: string;
  format: 'text' | 'json' | 'md' | 'html';
  output?: string;
  impact?: boolean;
}

/** `synup deploy plan`: the whole deployment's order, per-service migrations, steps and downtime. */
export async function runDeployPlan(ctx: CommandContext, _args: string[], flags: DeployPlanFlags): Promise<number> {
  if (ctx.out.json && flags.format !== 'text' && flags.format !== 'json') {
    throw usageError(`--json and --format ${flags.format} ask for two different outputs`, `drop --json to get ${flags.format}, or drop --format to get the plan as JSON`);
  }
  const outputFile = flags.output ? path.resolve(ctx.cwd, flags.output) : undefined;
  if (outputFile) checkOutputFile(outputFile, '-o');
  const { prepareDeployment } = await import('../deploy/prepare.js');
  const { renderDeploymentHtml, renderDeploymentMarkdown, renderDeploymentText } = await import('../deploy/render.js');
  const { plan } = await prepareDeployment(ctx, flags.file, flags.to, { estimate: true, checkAha: true, precheck: true, impact: flags.impact });
  const format = ctx.out.json ? 'json' : flags.format;
  const rendered =
    format === 'json' ? JSON.stringify(plan, null, ctx.out.json ? undefined : 2) + '\n'
    : format === 'md' ? renderDeploymentMarkdown(plan)
    : format === 'html' ? renderDeploymentHtml(plan)
    : renderDeploymentText(plan) + '\n';
  if (outputFile) {
    writeOutputFile(outputFile, rendered, '-o');
    say(ctx.out, `Wrote ${format} plan of deployment ${plan.deployment} to ${outputFile}`);
    if (ctx.out.json) emitJson(ctx.out, { written: outputFile, format });
    return 0;
  }
  (format === 'text' ? ctx.out.stderr : ctx.out.stdout).write(rendered);
  return 0;
}

interface DeployUpgradeFlags {
  file: string;
  to?: string;
  backup?: boolean;
  yes?: boolean;
  parallel?: number;
}

/** `synup deploy upgrade` (a new run) and `synup deploy resume` (the run that stopped): every service in order. */
export async function runDeployUpgrade(ctx: CommandContext, _args: string[], flags: DeployUpgradeFlags): Promise<number> {
  return deployRun(ctx, flags, false);
}

export async function runDeployResume(ctx: CommandContext, _args: string[], flags: DeployUpgradeFlags): Promise<number> {
  return deployRun(ctx, flags, true);
}

async function deployRun(ctx: CommandContext, flags: DeployUpgradeFlags, resume: boolean): Promise<number> {
  const { loadDeployment } = await import('../deploy/file.js');
  const { DeploymentJournal } = await import('../deploy/journal.js');
  const { prepareDeployment, deploymentStateDir } = await import('../deploy/prepare.js');
  const { newDeploymentRun, runDeployment } = await import('../deploy/runner.js');
  const { DEFAULT_PARALLEL_LANES } = await import('../deploy/defaults.js');
  const { withStateLock } = await import('../runner/run.js');
  const { confirmOrRefuse } = await import('../ui/prompt.js');
  const { trapInterrupts } = await import('../interrupt.js');
  const { SynupError, ExitCode } = await import('../errors.js');

  const deployment = loadDeployment(flags.file, ctx.cwd, ctx.env);
  const stateDir = deploymentStateDir(deployment, ctx.env);
  const journal = new DeploymentJournal(stateDir, deployment.name);
  const previous = journal.read();
  if (resume && (!previous || previous.outcome === 'done')) {
    say(ctx.out, previous ? `Deployment ${deployment.name}: the last run finished (${previous.endedAt}); nothing to resume.` : `Deployment ${deployment.name}: no run to resume.`);
    if (ctx.out.json) emitJson(ctx.out, { ok: true, deployment: deployment.name, resumed: false });
    return previous ? 0 : ExitCode.usage;
  }
  if (!resume && previous && previous.outcome !== 'done') {
    throw new SynupError('refused', `deployment ${deployment.name} has a run that did not finish (${previous.outcome}${previous.error ? `: ${previous.error}` : ''})`, {
      hint: 'fix the cause, then `synup deploy resume`; `synup deploy status` shows where it stopped',
    });
  }
  // A resumed run may be past a promotion (AHA's roles already swapped): only a new run is compared with AHA.
  const prepared = await prepareDeployment(ctx, flags.file, flags.to, { targets: resume ? previous!.targets : undefined, checkAha: !resume, precheck: !resume, resume });
  const run = resume ? previous! : newDeploymentRun(prepared);
  // The options the run began with are journaled: `deploy resume -y` goes on as it began (--backup kept).
  run.options = { backup: flags.backup ?? run.options?.backup ?? false, parallel: flags.parallel ?? run.options?.parallel ?? DEFAULT_PARALLEL_LANES };
  if (resume) {
    const backup = run.options.backup ? '--backup (a fresh verified backup of each service before its downtime)' : "no --backup (each service's newest verified backup must pass its gate)";
    say(ctx.out, `Resuming with the run's options: ${backup}, --parallel ${run.options.parallel}`);
  }
  const todo = run.phaseOrder.filter((id) => run.phases[id]?.state !== 'done');
  await confirmOrRefuse(ctx.out, flags.yes ?? false, `${resume ? 'Resume' : 'Run'} deployment ${deployment.name}: ${todo.length} phase(s) (${todo.join(', ')})? Services will be stopped one at a time.`);
  // One deployment run at a time: the lock is the deployment file's, in the deployment's state dir.
  return withStateLock(stateDir, deployment.file, { runId: `deploy-${deployment.name}`, command: resume ? 'deploy resume' : 'deploy upgrade' }, async () => {
    const trap = trapInterrupts(ctx.out, 'stopping the deployment (a promotion or a restart under way is finished first; a service upgrade stops before its downtime or rolls back)');
    const { runUpgrade } = await import('./upgrade.js');
    const { runResume } = await import('./resume.js');
    let result: Awaited<ReturnType<typeof runDeployment>>;
    try {
      result = await runDeployment(ctx, prepared, journal, run, {
        makeBackup: run.options!.backup,
        upgradeCell: (sctx, upgradeFlags) => runUpgrade(sctx, [], upgradeFlags),
        resumeCell: (sctx) => runResume(sctx, [], { yes: true }),
        parallel: run.options!.parallel,
        signal: trap.signal,
      });
    } finally {
      trap.dispose();
    }
    const { observeServices } = await import('../deploy/cells.js');
    const versions = await observeServices(ctx, prepared.deployment.services, run.leaders);
    const done = run.phaseOrder.filter((id) => run.phases[id]?.state === 'done');
    const remaining = run.phaseOrder.filter((id) => run.phases[id]?.state !== 'done');
    if (ctx.out.json) emitJson(ctx.out, { type: 'deployment', deployment: deployment.name, outcome: result.outcome, ...(result.outcome === 'done' ? {} : { phase: result.phase, error: result.error, resume: remaining }), services: versions });
    if (result.outcome === 'interrupted') {
      say(ctx.out, `Deployment ${deployment.name} stopped on ${result.interrupted.signalName} at ${result.phase}: ${result.error}.`);
      say(ctx.out, `Done: ${done.length ? done.join(', ') : 'no phase'}.`);
      say(ctx.out, `\`synup deploy resume\` will run: ${remaining.join(', ')}.`);
    } else say(ctx.out, result.outcome === 'done' ? `Deployment ${deployment.name} upgraded.` : `Deployment ${deployment.name} stopped at ${result.phase}: ${result.error}`);
    for (const line of versionLines(versions)) say(ctx.out, line);
    if (result.outcome === 'failed' || result.outcome === 'rolled-back') say(ctx.out, 'Fix the cause, then `synup deploy resume` goes on from that phase.');
    if (result.outcome === 'interrupted') return result.interrupted.exitCode;
    return result.outcome === 'done' ? 0 : result.outcome === 'rolled-back' ? ExitCode.rolledBack : ExitCode.failed;
  });
}

/** `synup deploy status`: the last run, phase by phase, and each service's version and role. */
export async function runDeployStatus(ctx: CommandContext, _args: string[], flags: { file: string }): Promise<number> {
  const { loadDeployment } = await import('../deploy/file.js');
  const { DeploymentJournal } = await import('../deploy/journal.js');
  const { deploymentStateDir } = await import('../deploy/prepare.js');
  const deployment = loadDeployment(flags.file, ctx.cwd, ctx.env);
  const run = new DeploymentJournal(deploymentStateDir(deployment, ctx.env), deployment.name).read();
  const leaders = run?.leaders ?? Object.fromEntries(deployment.services.filter((s) => s.mirrors.length).map((s) => [s.name, s.name]));
  // What the cells say (running, active or passive, whom they follow); the journal's role beside it where they differ.
  const { observeServices } = await import('../deploy/cells.js');
  const versions = await observeServices(ctx, deployment.services, leaders, run ? 'journal' : 'file');
  // With aha:, AHA's role of each service beside the file's (a failed query is shown, not fatal: status only reads).
  const { ahaRoles } = await import('../deploy/aha-check.js');
  const aha = deployment.aha ? await ahaRoles(deployment, ctx.env) : null;
  const rows = aha ? versions.map((v) => ({ ...v, aha: aha.roles.get(v.name) ?? null })) : versions;
  if (ctx.out.json) {
    emitJson(ctx.out, { deployment: deployment.name, run, services: rows, ...(aha?.error ? { ahaError: aha.error } : {}) });
    return 0;
  }
  say(ctx.out, run ? `Deployment ${deployment.name}: last run ${run.outcome} (started ${run.startedAt}${run.error ? `; ${run.error}` : ''})` : `Deployment ${deployment.name}: never run`);
  if (aha?.error) say(ctx.out, `  AHA could not be asked: ${aha.error}`);
  for (const line of versionLines(versions, aha ? (name) => `AHA: ${aha.roles.get(name)?.text ?? '?'}` : undefined)) say(ctx.out, line);
  const phases = (run?.phaseOrder ?? []).map((id) => [run!.phases[id]!.state, `${id}${run!.phases[id]!.detail ? `: ${run!.phases[id]!.detail}` : ''}`]);
  for (const line of columns(phases, { indent: '  ', minWidths: [11] })) say(ctx.out, line);
  return 0;
}

/** `synup deploy rehearse`: each service's upgrade rehearsed on a copy of its backup; one JUnit testsuite per service. */
export async function runDeployRehearse(ctx: CommandContext, _args: string[], flags: { file: string; to?: string; report?: string }): Promise<number> {
  const reportFile = flags.report ? path.resolve(ctx.cwd, flags.report) : undefined;
  if (reportFile) checkOutputFile(reportFile, '--report');
  const { prepareDeployment } = await import('../deploy/prepare.js');
  const { rehearseDeployment } = await import('../deploy/rehearse.js');
  const { renderJUnitSuites } = await import('../runner/rehearsal-report.js');
  const prepared = await prepareDeployment(ctx, flags.file, flags.to);
  const { runRehearse } = await import('./rehearse.js');
  const rehearsals = await rehearseDeployment(ctx, prepared, (sctx, rehearseFlags) => runRehearse(sctx, [], rehearseFlags));
  const ok = rehearsals.every((r) => r.result.ok);
  if (reportFile) {
    const suites = rehearsals.map((r) => ({ name: r.service, classname: `synup.deploy.${prepared.deployment.name}.${r.service}`, result: r.result }));
    writeOutputFile(reportFile, renderJUnitSuites(`synup deploy rehearse ${prepared.deployment.name}`, suites), '--report');
  }
  if (ctx.out.json) emitJson(ctx.out, { deployment: prepared.deployment.name, ok, services: rehearsals.map((r) => ({ service: r.service, ok: r.result.ok, summary: r.summary, cases: r.result.cases })) });
  say(ctx.out, `Deployment ${prepared.deployment.name} rehearsal ${ok ? 'passed' : 'FAILED'}:`);
  for (const line of columns(rehearsals.map((r) => [r.service, r.result.ok ? 'ok' : 'FAILED', r.summary]), { indent: '  ', minWidths: [16, 6] })) say(ctx.out, line);
  return ok ? 0 : 1;
}

/**
 * Each service's version and role as its cell says (and the journal's where it differs; given, AHA's role of it), one
 * aligned line each.
 */
function versionLines(versions: { name: string; version: string | null; role: string; journalRole?: string; fileRole?: string }[], ahaRole?: (name: string) => string): string[] {
  const expected = (v: (typeof versions)[number]) => (v.journalRole ? [`(the journal: ${v.journalRole})`] : v.fileRole ? [`(the file: ${v.fileRole})`] : []);
  const anyExpected = versions.some((v) => v.journalRole || v.fileRole);
  const rows = versions.map((v) => [v.name, v.version ?? '?', v.role, ...(anyExpected ? (expected(v).length ? expected(v) : ['']) : []), ...(ahaRole ? [ahaRole(v.name)] : [])]);
  return columns(rows, { indent: '  ', minWidths: [16, 10, ahaRole ? 22 : 0] }).map((line) => line.trimEnd());
}
