import type { Output } from '../ui/output.js';
import type { UpgradePlan } from '../plan/index.js';
import type { RunnerOptions } from './context.js';
import { runDirs } from '../siblings.js';
import type { CellSession } from './session.js';
import { STEPS } from './steps/index.js';

/** What each step would do ("Would …" lines with the adapter's exact argv): for --dry-run and runbooks. */
export function dryRunActions(session: CellSession, plan: UpgradePlan, options: RunnerOptions, out: Output): { name: string; actions: string[] }[] {
  const ctx = { ...session, plan, options, out, emit: () => undefined, progress: () => undefined };
  return STEPS.filter((step) => step.appliesTo?.(plan) !== false).map((step) => ({ name: step.name, actions: step.dryRun(ctx) }));
}

/** The manual rollback, as commands an operator can type (what `synup rollback` does). */
export function manualRollback(session: CellSession, plan: UpgradePlan): string[] {
  const dirs = runDirs(session.cellDir, '<run>');
  const argv = (lines: string[][]) => lines.map((a) => a.join(' '));
  return [
    `synup rollback --force -y   # or by hand:`,
    ...argv(session.adapter.describe('stop')),
    `mv ${session.cellDir} ${dirs.failed}`,
    `mv ${dirs.pre} ${session.cellDir}`,
    ...argv(session.adapter.describe('start', plan.from)),
    ...argv(session.adapter.describe('restore-probes')),
  ];
}
