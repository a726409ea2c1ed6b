import type { Changelog } from '../changelog/index.js';
import { newestRelease, normalizeVersion, selectReleases } from '../changelog/index.js';
import { kubernetesDataMode, type SynupConfig } from '../config/schema.js';
import type { DowntimeEstimate, PlanSettings, UpgradePlan } from './types.js';
import type { ImpactReport } from './impact.js';

export { markdownPage, renderPlanHtml, renderPlanMarkdown, type RunbookExtras } from './render.js';
export { ONLINE_CUTOVER_SECONDS, renderPlanText } from './text.js';
export type { DefragChoice, DowntimeEstimate, PlanDocument, PlannedStep, PlanSettings, UpgradePlan } from './types.js';

/** Said in the plan and in the run when confirm can check only the data. */
export const DATA_ONLY_CONFIRM =
  'confirm can check only the data: no health password (SYNUP_HEALTH_PASSWORD or health.password; user health.username, default root), so the running service is not asked its version';

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
    dataOnVolume: kubernetesDataMode(config) === 'volume',
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
      ...(input.changelog.warnings ?? []),
      // For a cell's upgrade (not a changelog query): say it where the warnings stand out.
      ...(input.config && input.dir && input.config.health.password === undefined ? [DATA_ONLY_CONFIRM] : []),
    ],
    probesMustBeDisabled: migrations.length > 0,
    settings: input.config ? settingsOf(input.config) : null,
    estimate: input.estimate ?? null,
  };
  return plan;
}

/**
 * The plan's downtime estimate with the report's predicted first boot: the same numbers `synup check` shows. A
 * rehearsal of the same from → to that could not calibrate the prediction (recorded before synup counted its work)
 * keeps its measured boot.
 */
export function withPredictedBoot(estimate: DowntimeEstimate, report: ImpactReport): DowntimeEstimate {
  if (estimate.basis === 'rehearsal' && !report.migrationEstimate.calibrated) return estimate;
  return { ...estimate, bootSeconds: report.predictedMigrationSeconds, basis: 'node counts', bootSource: report.migrationEstimate.source };
}
