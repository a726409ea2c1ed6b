import type { ImpactBullet } from '../changelog/index.js';
import type { SynupConfig } from '../config/schema.js';
import type { Output } from '../ui/output.js';
import type { UpgradePlan } from '../plan/index.js';
import type { AdapterPlanText, ServiceAdapter } from '../service/adapter.js';
import type { Journal, RunRecord } from './journal.js';

/** What the runner needs to know about the service's health; built by the CLI from src/health. */
export interface HealthProbe {
  /**
   * Resolves when /api/v1/active says active; rejects at the deadline or when aborted. `version`: the version that
   * runs (health.check: tool picks Synapse's healthcheck module by it); without it, the adapter's or the data's.
   */
  waitForActive(options: { deadlineMs: number; signal: AbortSignal; version?: string }): Promise<void>;
  /** One check now: active or not, and why (for `status` and `adopt`); `version` as for waitForActive. */
  check(version?: string): Promise<{ active: boolean; detail: string; final?: boolean }>;
  /** The version the running service reports, or null when it cannot tell (no credentials / endpoint). */
  readVersion(): Promise<string | null>;
}

export type RunnerEvent =
  | { type: 'step'; step: string; state: 'running' | 'completed' | 'failed' | 'skipped' | 'rolling-back' | 'rolled-back' | 'rollback-failed'; title: string; durationMs?: number; error?: string }
  | { type: 'progress'; step: string; message: string; bytes?: number; totalBytes?: number }
  | { type: 'run'; state: 'started' | 'done' | 'rolled-back' | 'rollback-failed' | 'failed'; runId: string; message?: string };

export interface RunnerOptions {
  makeBackup: boolean;
  ignorePreflight: string[];
  /**
   * The crossed Deprecations / Model Changes / migration bullets: preflight reports what they touch in this cell
   * (synup check) and, with `require`, refuses while deprecated usage remains (check clean-impact).
   */
  impact?: { bullets: ImpactBullet[]; require: boolean };
}

export interface StepContext {
  config: SynupConfig;
  cellDir: string;
  stateDir: string;
  plan: UpgradePlan;
  adapter: ServiceAdapter;
  health: HealthProbe;
  journal: Journal;
  options: RunnerOptions;
  out: Output;
  /** Aborted when the operator interrupts synup (SIGINT/SIGTERM); long waits stop early, the runner then stops cleanly. */
  signal?: AbortSignal;
  /** The current journal record (refreshed after every update). */
  run: RunRecord;
  update(change: (run: RunRecord) => void): RunRecord;
  emit(event: RunnerEvent): void | Promise<void>;
  progress(message: string, extra?: { bytes?: number; totalBytes?: number }): void;
}

/**
 * One upgrade step, declared once in its own file: its name (stable: the journal and the `[upgrade/<name>]` lines use
 * it), title, what it will do for a plan, and how it runs, undoes and dry-runs. `run` and `undo` are idempotent, so
 * resume can call them again after a crash. Step files load their heavy modules (LMDB, backups) when they run, so
 * `synup plan` can describe the steps without loading them.
 */
export interface Step {
  name: string;
  title: string;
  /** What the step will do, for `synup plan`: with the configured adapter's words when there is a config. */
  describe(plan: UpgradePlan, adapter: AdapterPlanText | null): string;
  /** Whether the step belongs to an upgrade with this plan at all (absent: always): plans, dry runs and runs leave it out. */
  appliesTo?(plan: UpgradePlan): boolean;
  /** Why this step has nothing to do in this run (e.g. the other defrag runs), or null: it is marked skipped, not run. */
  skip?(ctx: StepContext): string | null;
  run(ctx: StepContext): Promise<void>;
  /** Puts back what `run` changed (as far as it got). Absent: nothing to undo. */
  undo?(ctx: StepContext): Promise<void>;
  /** "Would …" lines for --dry-run and runbooks. */
  dryRun(ctx: Omit<StepContext, 'run' | 'update' | 'journal'>): string[];
}
