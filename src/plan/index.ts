import type { Changelog, Migration } from '../changelog/index.js';
import { newestRelease, normalizeVersion, selectReleases } from '../changelog/index.js';
import type { SynupConfig } from '../config/schema.js';
import { DATA_ONLY_CONFIRM, UPGRADE_STEPS, type StepName } from './steps.js';

export { markdownPage, renderPlanHtml, renderPlanMarkdown, type RunbookExtras } from './render.js';
export { renderPlanText } from './text.js';
export { DATA_ONLY_CONFIRM, UPGRADE_STEPS, type StepName } from './steps.js';

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
  steps: { name: StepName; title: string; description: string }[];
  estimate: DowntimeEstimate | null;
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
}


export interface DowntimeEstimate {
  /** Bytes of the compacted copy (upper bound from the meta pages). */
  dataBytes: number;
  /** Stop + compaction + verify + swap, from data size at the measured fd-copy rate. */
  defragSeconds: number;
  /** First boot of the target: from a rehearsal of the same from→to if there is one, else null (unknown). */
  bootSeconds: number | null;
  basis: 'data size' | 'rehearsal';
}

export interface BuildPlanInput {
  changelog: Changelog;
  from: string;
  /** Where `from` came from, for messages (default `--from`): a version read from a cell must not blame a flag. */
  fromLabel?: string;
  to: string;
  /** The cell dir; recorded in the plan and named in the step descriptions. */
  dir?: string;
  /** synup.yaml: step descriptions then name the adapter, deadlines and limits that will apply. */
  config?: SynupConfig;
  estimate?: DowntimeEstimate | null;
}

function settingsOf(config: SynupConfig): PlanSettings {
  return {
    adapter: config.service.adapter,
    backupMaxAgeMs: config.backup.maxAge,
    stopTimeoutMs: config.service.stopTimeout,
    startTimeoutMs: config.health.startTimeout,
    activeUrl: config.health.check === 'tool' ? "Synapse's healthcheck tool (health.check: tool)" : `https://${config.health.host}:${config.health.port}/api/v1/active`,
    smokeCheck: Boolean(config.health.smoke),
    serviceVersionCheck: config.health.password !== undefined,
    freeSpaceMargin: config.upgrade.freeSpaceMargin,
  };
}

/** changelog → plan: what an upgrade from → to will cross and do. Throws on bad versions (see selectReleases). */
export function buildPlan(input: BuildPlanInput): UpgradePlan {
  const releases = selectReleases(input.changelog, input.from, input.to, input.fromLabel);
  const migrations = releases.flatMap((r) => r.migrations);
  const plan: UpgradePlan = {
    from: normalizeVersion(input.from, input.fromLabel ?? '--from'),
    to: releases.at(-1)!.version,
    changelog: input.changelog.source,
    changelogNewest: newestRelease(input.changelog),
    dir: input.dir ?? null,
    releases: releases.map((r) => ({ version: r.version, date: r.date, migrations: r.migrations.length })),
    migrations,
    releasesWithMigrations: releases.filter((r) => r.migrations.length > 0).length,
    modelChanges: releases
      .filter((r) => r.migrations.length > 0 && (r.sections.some((s) => /^model changes$/i.test(s.title.trim())) || r.migrations.some((m) => /\bmodel\b/i.test(m.text))))
      .map((r) => r.version),
    warnings: [
      ...migrations.filter((m) => m.warning).map((m) => `${m.version}: ${m.text}`),
      ...migrations.filter((m) => m.source === 'prose' && !m.warning).map((m) => `${m.version} announces a migration only in prose: read its entry`),
      // For a cell's upgrade (not a changelog query): say it where the warnings stand out.
      ...(input.config && input.dir && input.config.health.password === undefined ? [DATA_ONLY_CONFIRM] : []),
    ],
    probesMustBeDisabled: migrations.length > 0,
    settings: input.config ? settingsOf(input.config) : null,
    steps: [],
    estimate: input.estimate ?? null,
  };
  plan.steps = UPGRADE_STEPS.map((s) => ({ name: s.name, title: s.title, description: s.describe(plan) }));
  return plan;
}
