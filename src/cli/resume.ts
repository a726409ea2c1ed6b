import { SynupError } from '../errors.js';
import { executeSteps, rollback } from '../runner/execute.js';
import { Journal } from '../runner/journal.js';
import { withCellRun } from '../runner/run.js';
import { openCellSession } from '../runner/session.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';
import { reportCellRun, reporterFor } from './run-report.js';
import { confirmOrRefuse } from '../ui/prompt.js';

interface ResumeFlags {
  yes?: boolean;
  force?: boolean;
}

function noRuns(ctx: CommandContext, cellDir: string, stateDir: string): number {
  if (ctx.out.json) emitJson(ctx.out, { resumed: false, lastRun: null, outcome: null });
  say(ctx.out, `Nothing to resume: no synup run of ${cellDir} in the journal (${stateDir}).`);
  return 0;
}

/**
 * After synup itself died: continue the interrupted run from its journal (every step is idempotent), or finish
 * its rollback. The cell ends fully upgraded or fully as before.
 */
export async function runResume(ctx: CommandContext, _args: string[], flags: ResumeFlags): Promise<number> {
  const session = openCellSession(ctx.config(), { allowMissing: true });
  if (!Journal.exists(session.stateDir)) return noRuns(ctx, session.cellDir, session.stateDir);
  const journal = Journal.open(session.stateDir);
  try {
    const run = journal.latest(session.cellDir);
    if (!run || (run.outcome !== 'running' && run.outcome !== 'rolling-back' && run.outcome !== 'rollback-failed')) {
      if (ctx.out.json) emitJson(ctx.out, { resumed: false, lastRun: run?.id ?? null, outcome: run?.outcome ?? null });
      say(ctx.out, run ? `Nothing to resume: the last run ${run.id} ended ${run.outcome}.` : `Nothing to resume: no synup run of ${session.cellDir} in the journal.`);
      return 0;
    }
    await confirmOrRefuse(ctx.out, flags.yes ?? false, `Resume run ${run.id} (${run.from} → ${run.to}, ${run.outcome})?`);
    const onInterrupt = run.outcome === 'running' ? 'stopping before any downtime, or rolling back once the service was stopped' : 'finishing the rollback';
    const reporter = reporterFor(ctx, 'resume');
    const outcome = await withCellRun({ session, journal, run, command: 'resume', out: ctx.out, reporter, force: flags.force, onInterrupt }, async (stepCtx) => {
      await reporter.emit({ type: 'run', state: 'started', runId: run.id, message: `resuming run ${run.id} (${run.outcome})` });
      if (run.outcome === 'running') return executeSteps(stepCtx);
      await rollback(stepCtx, new SynupError('failed', run.error ?? 'interrupted rollback'));
      return 'rolled-back';
    });
    return reportCellRun(ctx, outcome);
  } finally {
    await journal.close();
  }
}
