import { SynupError, usageError } from '../errors.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { buildPlan } from '../plan/index.js';
import type { RunnerOptions } from '../runner/context.js';
import { executeSteps } from '../runner/execute.js';
import { Journal, newRunId } from '../runner/journal.js';
import { latestPassingRehearsal } from '../runner/rehearsals.js';
import { openCellSession, type CellSession } from '../runner/session.js';
import { withCellLock, withCellRun } from '../runner/run.js';
import { dryRunActions } from '../runner/dry-run.js';
import { PREFLIGHT_CHECKS } from '../runner/steps/preflight.js';
import { requireUsableBackup } from '../runner/steps/backup-gate.js';
import { chooseDefrag } from '../runner/defrag-choice.js';
import type { CommandContext } from '../config/context.js';
import { loadChangelogFor } from '../changelog/source.js';
import { impactBullets, selectReleases } from '../changelog/index.js';
import { emitJson, say } from '../ui/output.js';
import { confirmOrRefuse } from '../ui/prompt.js';
import { reportCellRun, reporterFor } from './run-report.js';
import { Interrupted, trapInterrupts, type InterruptTrap } from '../interrupt.js';

interface UpgradeFlags {
  to: string;
  backup?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  requireRehearsal?: boolean;
  requireCleanImpact?: boolean;
  defrag?: 'cold' | 'online';
}

export async function runUpgrade(ctx: CommandContext, _args: string[], flags: UpgradeFlags): Promise<number> {
  // SIGINT/SIGTERM before the run begins (reading the data and the changelog, the gate, the prompt): nothing has been
  // changed yet, and synup says so (exit 130/143) instead of dying silently. The run's own trap takes over once it begins.
  const early = trapInterrupts(ctx.out, 'stopping: the upgrade has not begun, nothing is changed');
  try {
    return await upgradeOnce(ctx, flags, early);
  } finally {
    early.dispose();
  }
}

/** `work`, unless a signal asked synup to stop first (then Interrupted: nothing was changed). */
async function beforeTheRun<T>(signal: AbortSignal, work: Promise<T> | T): Promise<T> {
  const stopped = () => {
    const reason = signal.reason as Interrupted;
    return new Interrupted(reason.signalName, `interrupted by ${reason.signalName} before the upgrade began: nothing was changed, the service runs as before`, 'run `synup upgrade` again when ready');
  };
  if (signal.aborted) throw stopped();
  const result = await new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(stopped());
    signal.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(work).then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
  if (signal.aborted) throw stopped();
  return result;
}

async function upgradeOnce(ctx: CommandContext, flags: UpgradeFlags, early: InterruptTrap): Promise<number> {
  const session = openCellSession(ctx.config());
  const info = await beforeTheRun(early.signal, versionBeforeUpgrade(session));
  const changelog = await beforeTheRun(early.signal, loadChangelogFor(ctx, flags.to));
  const plan = await beforeTheRun(early.signal, buildPlan({ changelog, from: info.cellVersion, fromLabel: info.label, to: flags.to }));
  if (flags.requireRehearsal && !latestPassingRehearsal(session.stateDir, plan.from, plan.to, info.guid)) {
    throw new SynupError('refused', `no passing rehearsal of ${plan.from} → ${plan.to} on a backup of this cell`, {
      hint: `run \`synup rehearse --backup <backup of this cell> --to ${plan.to}\` first`,
    });
  }
  const { ignorePreflight } = session.config.upgrade;
  const unknown = ignorePreflight.filter((name) => !(PREFLIGHT_CHECKS as readonly string[]).includes(name));
  if (unknown.length) throw usageError(`--ignore-preflight: unknown check ${unknown.map((n) => JSON.stringify(n)).join(', ')}; known: ${PREFLIGHT_CHECKS.join(', ')}`);
  const impact = { bullets: impactBullets(selectReleases(changelog, plan.from, plan.to)), require: Boolean(flags.requireCleanImpact || session.config.upgrade.requireCleanImpact) };
  const options: RunnerOptions = { makeBackup: flags.backup ?? false, ignorePreflight, impact };
  plan.defrag = chooseDefrag(session, flags.defrag ?? session.config.upgrade.defrag);

  if (flags.dryRun) {
    const steps = dryRunActions(session, plan, options, ctx.out);
    if (ctx.out.json) emitJson(ctx.out, { dryRun: true, cellDir: session.cellDir, from: plan.from, to: plan.to, migrations: plan.migrations.length, steps });
    say(ctx.out, `Dry run: upgrade ${session.cellName} (${session.adapter.remoteData ? `the volume of ${session.adapter.remoteData.owner}` : session.cellDir}) ${plan.from} → ${plan.to}, ${plan.migrations.length} migration(s), adapter ${session.adapter.name}. Nothing will be changed.`);
    steps.forEach((step, i) => {
      say(ctx.out, `[upgrade/${step.name}] step ${i + 1}/${steps.length}`);
      for (const line of step.actions) say(ctx.out, `  ${line}`);
    });
    return 0;
  }

  const runId = newRunId();
  // The lock is taken before the gate and the prompt, so no other run can start on the cell while the operator reads.
  return withCellLock(session, { runId, command: 'upgrade', force: flags.force }, async () => {
    // Refusals that need no run: nothing is journaled for them.
    // Data on a volume: the gate runs in a Job once the pod is gone (it cannot be read before).
    if (!options.makeBackup && !session.adapter.remoteData) await beforeTheRun(early.signal, requireUsableBackup(session.config, session.cellDir));
    await beforeTheRun(early.signal, confirmOrRefuse(ctx.out, flags.yes ?? false, `Upgrade ${session.cellName} (${session.cellDir}) from ${plan.from} to ${plan.to}? The service will be stopped.`));
    const journal = Journal.open(session.stateDir);
    try {
      const run = journal.create({
        id: runId,
        cellDir: session.cellDir,
        cellName: session.cellName,
        from: plan.from,
        to: plan.to,
        plan,
        startedAt: new Date().toISOString(),
        outcome: 'running',
        steps: {},
        data: { migrations: plan.migrations.length },
        owned: [],
      });
      const reporter = reporterFor(ctx, 'upgrade');
      const onInterrupt = 'stopping before any downtime, or rolling back once the service was stopped';
      const outcome = await withCellRun({ session, journal, run, command: 'upgrade', out: ctx.out, reporter, options, locked: true, onInterrupt }, async (stepCtx) => {
        early.dispose(); // the run's trap is in force now (a signal before this line aborted both: the run stops before downtime)
        await reporter.emit({ type: 'run', state: 'started', runId, message: `run ${runId}: ${session.cellName} ${plan.from} → ${plan.to}` });
        return executeSteps(stepCtx);
      });
      return reportCellRun(ctx, outcome);
    } finally {
      await journal.close();
    }
  });
}

/**
 * The version the upgrade starts from: the cell's data (slabs/cell.lmdb), or for data on a volume synup can read only
 * once the pod is gone, the workload's image tag (checked against the data by a Job after the stop).
 */
async function versionBeforeUpgrade(session: CellSession): Promise<{ cellVersion: string; guid: string | null; label: string }> {
  if (session.adapter.remoteData) {
    const { configuredVersion, detail } = await session.adapter.status();
    if (!configuredVersion) throw new SynupError('refused', `cannot tell the version of ${detail ?? session.cellName}: its image tag names no release`, { hint: 'run the workload with a versioned image (vertexproject/synapse-cortex:v2.x.y)' });
    return { cellVersion: configuredVersion, guid: null, label: `the image tag of ${await session.adapter.remoteData.describe()}` };
  }
  const info = await readCellInfo(session.cellDir);
  if (!info.cellVersion) {
    throw new SynupError('refused', `cannot tell the version of ${session.cellDir}: slabs/cell.lmdb has no cell:info cell:version`, {
      hint: 'is this a Synapse service storage dir that has booted at least once?',
    });
  }
  return { cellVersion: info.cellVersion, guid: info.guid, label: `the version of ${session.cellDir} (slabs/cell.lmdb)` };
}
