import type { Output } from '../ui/output.js';
import type { UpgradePlan } from '../plan/index.js';
import type { RunnerOptions, StepContext } from './context.js';
import { Journal, type RunRecord } from './journal.js';
import type { CellSession } from './session.js';
import type { Reporter } from './ui.js';

/** Binds a journal record to the session: every `update` is a synced journal write, every `progress` an event. */
export function bindRun(input: {
  session: CellSession;
  journal: Journal;
  run: RunRecord;
  plan: UpgradePlan;
  out: Output;
  reporter: Reporter;
  options: RunnerOptions;
  signal?: AbortSignal;
}): StepContext {
  const { session, journal, reporter } = input;
  let currentStep = 'preflight';
  const ctx: StepContext = {
    config: session.config,
    cellDir: session.cellDir,
    stateDir: session.stateDir,
    adapter: session.adapter,
    health: session.health,
    plan: input.plan,
    journal,
    options: input.options,
    signal: input.signal,
    out: input.out,
    run: input.run,
    update(change) {
      ctx.run = journal.update(ctx.run.id, change);
      return ctx.run;
    },
    emit(event) {
      if (event.type === 'step') currentStep = event.step;
      return reporter.emit(event);
    },
    progress(message, extra) {
      void reporter.emit({ type: 'progress', step: currentStep, message, ...extra });
    },
  };
  return ctx;
}
