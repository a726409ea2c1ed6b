import type { Migration } from '../changelog/index.js';
import type { SynupConfig } from '../config/schema.js';
import type { ImpactReport } from './impact.js';

/** The plan's data types, apart from the code that builds and renders plans (so renderers need not import the builder). */
export interface UpgradePlan {
  from: string;
  to: string;
  /** Where the changelog came from (file path, URL, or the built-in snapshot). */
  changelog: string;
  /** The newest release in that changelog: which snapshot of it the plan was made from. */
  changelogNewest: { version: string; date: string | null };
  /** The cell dir the plan is for, when one was given. */
  dir: string | null;
  /** Every release crossed, (from, to], ascending. */
  releases: { version: string; date: string | null; migrations: number }[];
  /** Every migration in (from, to], ascending by version. */
  migrations: Migration[];
  releasesWithMigrations: number;
  /**
   * Releases with migrations that also change the data model (a "Model Changes" section, or migration text naming the
   * model): their first boot may run a model migration (`beginning model migration` … `model migrations complete`).
   * A superset of the real model revisions (2.180.0 → 2.250.0: 12 releases, 8 revisions). Absent in older journaled plans.
   */
  modelChanges?: string[];
  /** Texts that must stand out: backup warnings first, then notes about prose-only announcements. */
  warnings: string[];
  probesMustBeDisabled: boolean;
  /** The settings the steps were described with (from synup.yaml), or null when the plan was made without a config. */
  settings: PlanSettings | null;
  estimate: DowntimeEstimate | null;
  /** Which defrag the run will do and why (issue 24); absent in plans made without a cell, and in older journals (= cold). */
  defrag?: DefragChoice;
}

/** Cold: compact the stopped cell. Online: swap in a compacted shadow mirror that followed the running cell. */
export interface DefragChoice {
  mode: 'cold' | 'online';
  /** What upgrade.defrag / --defrag asked for. */
  requested: 'cold' | 'online';
  /** Why this mode: the setting, or what keeps online from applying to this cell. */
  reason: string;
  /** Online: the URL the shadow follows, without credentials. */
  follows?: string;
}

export interface PlanSettings {
  adapter: SynupConfig['service']['adapter'];
  backupMaxAgeMs: number;
  stopTimeoutMs: number;
  /** health.startTimeout: how long the first boot may go without progress. */
  startTimeoutMs: number;
  activeUrl: string;
  smokeCheck: boolean;
  /** health.password (or SYNUP_HEALTH_PASSWORD) is set: confirm can ask the running service its version. */
  serviceVersionCheck: boolean;
  freeSpaceMargin: number;
  /**
   * The data is on a Kubernetes volume synup reaches only through Jobs (no cell.dir): version from the image tag,
   * backup and defrag by Jobs inside the volume. Absent in older journaled plans (= on this host).
   */
  dataOnVolume?: boolean;
}

export interface DowntimeEstimate {
  /** Bytes of the compacted copy (upper bound from the meta pages). */
  dataBytes: number;
  /** Stop + compaction + verify + swap, from data size at the measured fd-copy rate. */
  defragSeconds: number;
  /** First boot of the target: from a rehearsal of the same from→to if there is one, else null (unknown). */
  bootSeconds: number | null;
  /** `node counts`: the first boot predicted from this cell's node counts at measured migration rates (plan --impact). */
  basis: 'data size' | 'rehearsal' | 'node counts';
  /** With `node counts`: what calibrated the prediction (`rehearsal <id>`, `upgrade <run id>`) or `built-in rates`. */
  bootSource?: string;
}

/** A step as a plan shows it: declared in src/runner/steps/, described for one plan. */
export interface PlannedStep {
  name: string;
  title: string;
  description: string;
}

/** What `synup plan` renders: the plan and the steps that will carry it out. */
export type PlanDocument = UpgradePlan & { steps: PlannedStep[]; impact?: ImpactReport };
