import { SynupError } from '../errors.js';
import { assertRollbackPoint, rollback } from '../runner/execute.js';
import { Journal } from '../runner/journal.js';
import { withCellRun } from '../runner/run.js';
import { openCellSession } from '../runner/session.js';
import type { CommandContext } from '../config/context.js';
import { note } from '../ui/output.js';
import { runDirs } from '../siblings.js';
import { reportCellRun, reporterFor } from './run-report.js';
import { confirmOrRefuse } from '../ui/prompt.js';

interface RollbackFlags {
  run?: string;
  force?: boolean;
  yes?: boolean;
}

function noRuns(_ctx: CommandContext, cellDir: string, stateDir: string): never {
  throw new SynupError('usage', `no synup run of ${cellDir} in the journal (${stateDir})`, { hint: 'see `synup history`' });
}

/** Puts the pre-upgrade data and version back by choice; after a successful upgrade only with --force. */
export async function runRollback(ctx: CommandContext, _args: string[], flags: RollbackFlags): Promise<number> {
  const session = openCellSession(ctx.config(), { allowMissing: true });
  if (!Journal.exists(session.stateDir)) return noRuns(ctx, session.cellDir, session.stateDir);
  const journal = Journal.open(session.stateDir);
  try {
    const run = flags.run ? journal.get(flags.run) : journal.latest(session.cellDir);
    if (!run || run.cellDir !== session.cellDir) {
      throw new SynupError('usage', flags.run ? `run ${flags.run} is not a run of ${session.cellDir}` : `no synup run of ${session.cellDir} in the journal`, { hint: 'see `synup history`' });
    }
    if (run.outcome === 'rolled-back' || run.outcome === 'failed') {
      throw new SynupError('refused', `run ${run.id} already ended ${run.outcome}: the cell holds its pre-upgrade data`);
    }
    if (run.outcome === 'done') {
      if (!flags.force) {
        throw new SynupError('refused', `run ${run.id} upgraded ${run.from} → ${run.to} successfully; rolling back loses every write made since`, {
          hint: 'pass --force if that is what you want',
        });
      }
      note(ctx.out, `warning: rolling back a successful upgrade; writes since ${run.endedAt} are lost (kept in ${runDirs(session.cellDir, run.id).failed})`);
    }
    const later = journal.list({ cellDir: session.cellDir }).filter((r) => r.id !== run.id && r.startedAt > run.startedAt && r.outcome !== 'rolled-back' && r.outcome !== 'failed');
    if (later.length > 0) {
      throw new SynupError('refused', `run ${run.id} is not the latest run of ${session.cellDir}: rolling it back would also undo ${later.map((r) => `${r.id} (${r.from} → ${r.to}, ${r.outcome})`).join(', ')}; nothing was changed`, {
        hint: `roll back the latest run first (\`synup rollback --run ${later.at(-1)!.id}\`), newest to oldest`,
      });
    }
    assertRollbackPoint(run, session.cellDir);
    await confirmOrRefuse(ctx.out, flags.yes ?? false, `Roll ${session.cellName} back from ${run.to} to ${run.from}?`);
    const reporter = reporterFor(ctx, 'rollback');
    const outcome = await withCellRun({ session, journal, run, command: 'rollback', out: ctx.out, reporter, onInterrupt: 'finishing the rollback' }, async (stepCtx) => {
      await rollback(stepCtx, new SynupError('failed', run.outcome === 'done' ? 'rollback requested by the operator' : (run.error ?? 'rollback requested by the operator')));
      return 'rolled-back';
    });
    return reportCellRun(ctx, outcome);
  } finally {
    await journal.close();
  }
}
