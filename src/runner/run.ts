import { ensurePrivateDir } from '../fsutil.js';
import { trapInterrupts, type Interrupted } from '../interrupt.js';
import { acquireCellLock, acquireStateLock } from '../safety/lock.js';
import type { Output } from '../ui/output.js';
import type { RunnerOptions, StepContext } from './context.js';
import type { RunResult } from './execute.js';
import type { Journal, RunRecord } from './journal.js';
import type { CellSession } from './session.js';
import { bindRun } from './start-run.js';
import type { Reporter } from './ui.js';

/**
 * The runner's entry point: everything that changes a cell does so holding the cell's run lock (refused, exit 3,
 * while another synup run holds it; a stale lock of the same run id is taken over, any other only with `force`).
 */
export async function withCellLock<T>(session: Pick<CellSession, 'stateDir' | 'cellDir'>, lock: { runId: string; command: string; force?: boolean }, body: () => Promise<T>): Promise<T> {
  // The state dir (journal, pid file, log) must be usable before anything is done to the cell.
  ensurePrivateDir(session.stateDir);
  const held = acquireCellLock(session.cellDir, session.stateDir, { runId: lock.runId, command: lock.command }, lock.force ?? false);
  try {
    return await body();
  } finally {
    held.release();
  }
}

/** The same for what is not a cell (a deployment file): the lock lives in the state dir. */
export async function withStateLock<T>(stateDir: string, key: string, lock: { runId: string; command: string; force?: boolean }, body: () => Promise<T>): Promise<T> {
  const held = acquireStateLock(stateDir, key, { runId: lock.runId, command: lock.command }, lock.force ?? false);
  try {
    return await body();
  } finally {
    held.release();
  }
}

export interface CellRun {
  session: CellSession;
  /** The open journal and the run in it (created by upgrade, found by resume and rollback). */
  journal: Journal;
  run: RunRecord;
  command: string;
  out: Output;
  reporter: Reporter;
  options?: RunnerOptions;
  /** The caller holds the run lock already (upgrade takes it, with withCellLock, before asking to confirm); else taken for run.id. */
  locked?: boolean;
  force?: boolean;
  /** What happens after SIGINT/SIGTERM, told to the operator ("finishing the rollback"). */
  onInterrupt: string;
}

export interface CellRunOutcome {
  run: RunRecord;
  result: RunResult;
  /** The signal that asked synup to stop during the run, if one did. */
  interrupted: Interrupted | null;
}

/**
 * One journaled run on a cell, the way upgrade, resume and rollback all run: lock → interrupts trapped → the run
 * bound to its journal → `body` (execute the steps, or roll back) → release, in reverse whatever happens.
 */
export async function withCellRun(input: CellRun, body: (ctx: StepContext) => Promise<RunResult>): Promise<CellRunOutcome> {
  const run = async (): Promise<CellRunOutcome> => {
    const trap = trapInterrupts(input.out, input.onInterrupt);
    try {
      // The journal must take a write before anything is done to the cell (a damaged or full one is named here).
      input.journal.update(input.run.id, () => undefined);
      const options = input.options ?? { makeBackup: false, ignorePreflight: [] };
      const ctx = bindRun({ ...input, plan: input.run.plan, options, signal: trap.signal });
      const result = await body(ctx);
      return { run: ctx.run, result, interrupted: trap.signal.aborted ? (trap.signal.reason as Interrupted) : null };
    } finally {
      trap.dispose();
    }
  };
  return input.locked ? run() : withCellLock(input.session, { runId: input.run.id, command: input.command, force: input.force }, run);
}
