import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { readManifest } from '../backup/manifest.js';
import { restoreBackup } from '../backup/restore.js';
import { SynupError, errorMessage } from '../errors.js';
import { checkOutputFile, ensurePrivateDir, writeOutputFile } from '../fsutil.js';
import { isListening } from '../health/index.js';
import { buildPlan } from '../plan/index.js';
import { createAdapter } from '../service/index.js';
import { Journal, newRunId } from '../runner/journal.js';
import { recordRehearsal } from '../runner/rehearsals.js';
import { renderJUnit, renderRehearsalMarkdown, type RehearsalCase, type RehearsalResult } from '../runner/rehearsal-report.js';
import { healthProbe } from '../runner/session.js';
import { createReporter } from '../runner/ui.js';
import { bindRun } from '../runner/start-run.js';
import { executeSteps } from '../runner/execute.js';
import { STEPS } from '../runner/steps/index.js';
import type { CommandContext } from '../config/context.js';
import { loadChangelogFor } from '../changelog/source.js';
import { impactBullets, selectReleases } from '../changelog/index.js';
import type { MigrationWork } from '../plan/boot-calibration.js';
import { offlineMigrationWork } from '../runner/impact.js';
import { emitJson, say } from '../ui/output.js';
import { formatDuration } from '../units.js';
import { reporterFor } from './run-report.js';

interface RehearseFlags {
  backup: string;
  to: string;
  port?: number;
  report?: string;
  summary?: string;
}

/** The steps a rehearsal runs on the scratch copy: the new version's first boot, exactly as the upgrade runs it. */
const REHEARSED = ['start', 'wait-migrations', 'confirm'] as const;

/**
 * CI rehearsal: restore a backup into a scratch dir synup owns, boot the target version on it (process adapter,
 * another port), wait through its migrations, confirm, stop, remove the scratch dir. Reports JSON, JUnit, Markdown.
 */
export async function runRehearse(ctx: CommandContext, _args: string[], flags: RehearseFlags): Promise<number> {
  const { config } = ctx.config();
  const backupDir = path.resolve(ctx.cwd, flags.backup);
  const reportFile = flags.report ? path.resolve(ctx.cwd, flags.report) : undefined;
  const summaryFile = flags.summary ? path.resolve(ctx.cwd, flags.summary) : undefined;
  if (reportFile) checkOutputFile(reportFile, '--report');
  if (summaryFile) checkOutputFile(summaryFile, '--summary');
  const read = await readManifest(backupDir);
  if (!read.ok) throw new SynupError('refused', `cannot rehearse from ${backupDir}: ${read.message}`, { hint: 'pick a complete, verified backup (`synup verify`)' });
  const from = read.manifest.cell.cellVersion;
  if (!from) throw new SynupError('refused', `backup ${backupDir} does not record the cell's version`);
  const changelog = await loadChangelogFor(ctx, flags.to);
  const plan = buildPlan({ changelog, from, fromLabel: `the version recorded in ${backupDir}`, to: flags.to });
  if (config.service.adapter !== 'process' || !config.service.process?.command) {
    throw new SynupError('usage', 'rehearse boots the target version itself: it needs service.process.command (a start command template)', {
      hint: 'add service.process.command to the synup.yaml the rehearsal runs with (it may differ from production\'s adapter)',
    });
  }
  const stateDir = ctx.config().stateDir;
  const id = newRunId();
  const scratchRoot = path.join(stateDir, 'rehearsals', id);
  const cellDir = path.join(scratchRoot, 'cell');
  const port = flags.port ?? config.health.port + 1;
  if (await isListening(config.health.host, port)) {
    throw new SynupError('refused', `port ${port} on ${config.health.host} is already in use: the rehearsal's scratch service needs a free port`, {
      hint: `pass --port <a free port>${port === config.health.port ? ' (it must not be the live cell\'s health.port)' : ''}`,
    });
  }
  const scratchConfig = { ...config, health: { ...config.health, port } };
  const adapter = createAdapter(scratchConfig, { cellDir, stateDir: scratchRoot, cwd: ctx.cwd, env: ctx.env });
  ensurePrivateDir(scratchRoot);
  const started = Date.now();
  const cases: RehearsalCase[] = [];
  const timed = async (name: string, title: string, fn: () => Promise<string | void>) => {
    const t0 = Date.now();
    try {
      const detail = await fn();
      cases.push({ name, title, durationMs: Date.now() - t0, ok: true, ...(detail ? { detail } : {}) });
      return true;
    } catch (error) {
      cases.push({ name, title, durationMs: Date.now() - t0, ok: false, error: errorMessage(error) });
      return false;
    }
  };

  let ok = await timed('restore', `Restore ${path.basename(backupDir)} into scratch`, async () => {
    const restored = await restoreBackup({ backupDir, targetDir: cellDir });
    return `${restored.bytes} bytes restored and verified`;
  });
  const journal = Journal.open(scratchRoot);
  let migrationMs: number | null = null;
  let modelMigrationMs: number | null = null;
  let migrationWork: MigrationWork | undefined;
  try {
    // A Cortex's node counts, before its boot: the boot measured here then calibrates predictions for other counts.
    if (ok && existsSync(path.join(cellDir, 'layers'))) {
      migrationWork = await offlineMigrationWork(cellDir, from, plan.to, impactBullets(selectReleases(changelog, from, plan.to))).catch((error: unknown) => {
        say(ctx.out, `note: the node counts of the restored copy could not be read (${errorMessage(error)}): this rehearsal's boot will not calibrate predicted migration times`);
        return undefined;
      });
    }
    if (ok) {
      const run = journal.create({
        id, cellDir, cellName: `rehearsal-${id}`, from, to: plan.to, plan, startedAt: new Date().toISOString(), outcome: 'running', steps: {}, data: {}, owned: [],
      });
      const session = { config: scratchConfig, cellDir, cellName: run.cellName, stateDir: scratchRoot, adapter, health: healthProbe(scratchConfig, cellDir, adapter, ctx.env) };
      // With --json stdout carries the one result document, so step lines go to stderr.
      const reporter = ctx.out.json ? createReporter(ctx.out, 'rehearse', 'plain') : reporterFor(ctx, 'rehearse');
      const stepCtx = bindRun({ session, journal, run, plan, out: ctx.out, reporter, options: { makeBackup: false, ignorePreflight: [] } });
      ok = await executeSteps(stepCtx, { only: REHEARSED, undoOnFailure: false }).then(() => true, () => false);
      const steps = stepCtx.run.steps;
      for (const name of REHEARSED) {
        const rec = steps[name];
        if (!rec?.startedAt) break;
        const durationMs = Date.parse(rec.endedAt ?? new Date().toISOString()) - Date.parse(rec.startedAt);
        cases.push({ name, title: STEPS.find((s) => s.name === name)!.title, durationMs, ok: rec.state === 'completed', ...(rec.error ? { error: rec.error } : {}) });
      }
      const booted = steps['wait-migrations'];
      if (booted?.state === 'completed') {
        migrationMs = Date.parse(booted.endedAt!) - Date.parse(steps.start!.startedAt!);
        modelMigrationMs = stepCtx.run.data.modelMigrationMs ?? null;
      }
    }
  } finally {
    await timed('stop', 'Stop the rehearsal service', async () => {
      await adapter.stop({ timeoutMs: config.service.stopTimeout });
    }).then((stopped) => (ok &&= stopped));
    await journal.close();
    await rm(scratchRoot, { recursive: true, force: true });
  }

  const result: RehearsalResult = {
    id, ok, backup: backupDir, cellGuid: read.manifest.cell.guid, from, to: plan.to, startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started, migrationMs, modelMigrationMs, ...(migrationWork ? { migrationWork } : {}), migrations: plan.migrations.length, cases,
  };
  recordRehearsal(stateDir, { id, at: result.startedAt, cellGuid: result.cellGuid, from, to: plan.to, ok, migrationMs, modelMigrationMs, ...(migrationWork ? { migrationWork } : {}), dataBytes: read.manifest.totals.bytesAfter, backup: backupDir });
  if (reportFile) writeOutputFile(reportFile, renderJUnit(result), '--report');
  if (summaryFile) writeOutputFile(summaryFile, renderRehearsalMarkdown(result), '--summary');
  if (ctx.out.json) emitJson(ctx.out, result);
  say(ctx.out, `Rehearsal ${from} → ${plan.to} ${ok ? 'passed' : 'FAILED'} in ${formatDuration(result.durationMs)}${migrationMs !== null ? `; first boot ${formatDuration(migrationMs)}` : ''}`);
  for (const c of cases.filter((x) => !x.ok)) say(ctx.out, `  ${c.name}: ${c.error}`);
  return ok ? 0 : 1;
}
