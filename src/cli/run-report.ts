import type { RunResult } from '../runner/execute.js';
import type { RunRecord } from '../runner/journal.js';
import type { CellRunOutcome } from '../runner/run.js';
import { summarizeRun } from '../runner/summary.js';
import { keptSpace } from '../runner/space.js';
import { chooseRenderer, createReporter, type Reporter } from '../runner/ui.js';
import type { CommandContext } from '../config/context.js';
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
  const space = result === 'done' ? null : keptSpace(run);
  if (ctx.out.json) emitJson(ctx.out, { type: 'summary', ...s, ...(space ? { keptSpace: space } : {}) });
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
  if (s.failedDir) say(ctx.out, `The new version's data is kept for diagnosis in ${s.failedDir}${space ? ` (${formatBytes(space.keptBytes)} on disk; \`synup prune --older-than 0s\` removes it)` : ''}.`);
  if (space?.full) {
    say(ctx.out, `WARNING: the filesystem holding ${run.cellDir} is ${space.usedPercent}% full (${formatBytes(space.freeBytes)} free) with what this run kept: \`synup prune --older-than 0s\` would free ${formatBytes(space.keptBytes)} (after you have looked at ${s.failedDir ?? 'it'})`);
  }
  return ExitCode.rolledBack;
}

/**
 * Reports a run: its summary, and after a signal also what was done and what `resume` will do; exits 128 + signal
 * unless the run had already finished.
 */
export function reportCellRun(ctx: CommandContext, { run, result, interrupted }: CellRunOutcome): number {
  const code = reportRun(ctx, run, result);
  if (!interrupted) return code;
  if (result === 'done') {
    say(ctx.out, `${interrupted.signalName} arrived as the run finished: ${run.cellName} is at ${run.to}; \`synup resume\` has nothing to do.`);
    return code;
  }
  say(ctx.out, `Stopped on ${interrupted.signalName}: ${run.cellName} is back at ${run.from}${run.data.wasRunning === false ? ', stopped as it was before' : ' and running'}; \`synup resume\` has nothing to do.`);
  return interrupted.exitCode;
}
