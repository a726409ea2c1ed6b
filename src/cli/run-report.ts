import type { RunResult } from '../runner/execute.js';
import type { Journal, RunRecord } from '../runner/journal.js';
import type { CellSession } from '../runner/session.js';
import { bindRun } from '../runner/start-run.js';
import { trapInterrupts, type Interrupted } from '../interrupt.js';
import { summarizeRun } from '../runner/summary.js';
import { chooseRenderer, createReporter, type Reporter } from '../runner/ui.js';
import type { CommandContext } from './context.js';
import { ExitCode } from '../errors.js';
import { emitJson, say } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

export function reporterFor(ctx: CommandContext, command: string): Reporter {
  const isTTY = Boolean((ctx.out.stderr as { isTTY?: boolean }).isTTY);
  const ci = ctx.env.CI !== undefined && ctx.env.CI !== '' && ctx.env.CI !== 'false';
  return createReporter(ctx.out, command, chooseRenderer({ json: ctx.out.json, isTTY, ci }));
}

/** The end of a run: downtime, bytes reclaimed, where things are; exit 0 done, 4 rolled back. */
export function reportRun(ctx: CommandContext, run: RunRecord, result: RunResult): number {
  const s = summarizeRun(run);
  if (ctx.out.json) emitJson(ctx.out, { type: 'summary', ...s });
  const downtime = s.downtimeMs !== null ? formatDuration(s.downtimeMs) : 'n/a';
  if (result === 'done') {
    const migrated = s.migratedMs !== null ? formatDuration(s.migratedMs) : 'n/a';
    say(ctx.out, `Upgraded ${run.cellName} ${run.from} → ${run.to}. Downtime: API back after ${downtime}, migrated after ${migrated}.`);
    if (s.bytesBefore !== null && s.bytesAfter !== null) {
      say(ctx.out, `Defragmented ${formatBytes(s.bytesBefore)} → ${formatBytes(s.bytesAfter)} on disk (${formatBytes(s.reclaimedBytes ?? 0)} reclaimed, engine ${s.engine}).`);
    }
    say(ctx.out, `Rollback point kept: ${s.preDir} (remove with \`synup prune\`).`);
    return ExitCode.ok;
  }
  say(ctx.out, `Rolled back ${run.cellName} to ${run.from}: ${s.error}. Downtime: API back after ${downtime}.`);
  if (s.failedDir) say(ctx.out, `The new version's data is kept for diagnosis in ${s.failedDir}.`);
  return ExitCode.rolledBack;
}

/**
 * Runs a run's steps with SIGINT/SIGTERM trapped (see trapInterrupts), then reports. After a signal it also says
 * what was done and what `resume` will do, and exits 128 + signal unless the run had already finished.
 */
export async function runInterruptible(ctx: CommandContext, what: string, body: (signal: AbortSignal) => Promise<{ run: RunRecord; result: RunResult }>): Promise<number> {
  const trap = trapInterrupts(ctx.out, what);
  try {
    const { run, result } = await body(trap.signal);
    const code = reportRun(ctx, run, result);
    if (!trap.signal.aborted) return code;
    const reason = trap.signal.reason as Interrupted;
    if (result === 'done') {
      say(ctx.out, `${reason.signalName} arrived as the run finished: ${run.cellName} is at ${run.to}; \`synup resume\` has nothing to do.`);
      return code;
    }
    say(ctx.out, `Stopped on ${reason.signalName}: ${run.cellName} is back at ${run.from}${run.data.wasRunning === false ? ', stopped as it was before' : ' and running'}; \`synup resume\` has nothing to do.`);
    return reason.exitCode;
  } finally {
    trap.dispose();
  }
}

/** Rebinds a journaled run (resume, rollback): rebuilds its plan from the changelog it was made with. */
export async function openRun(ctx: CommandContext, session: CellSession, journal: Journal, run: RunRecord, command: string, signal?: AbortSignal) {
  const reporter = reporterFor(ctx, command);
  const stepCtx = bindRun({ session, journal, run, plan: run.plan, out: ctx.out, reporter, options: { makeBackup: false, ignorePreflight: [] }, signal });
  return { stepCtx, reporter };
}
