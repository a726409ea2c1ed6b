import type { Changelog, Migration } from '../changelog/index.js';
import { selectReleases } from '../changelog/index.js';
import { UPGRADE_STEPS } from './steps.js';

export interface UpgradePlan {
  from: string;
  to: string;
  changelog: string;
  /** Every release crossed, (from, to], ascending. */
  releases: { version: string; date: string | null; migrations: number }[];
  migrations: Migration[];
  releasesWithMigrations: number;
  /** Texts that must stand out: WARNING bullets first, then notes about prose-only announcements. */
  warnings: string[];
  probesMustBeDisabled: boolean;
  steps: { name: string; title: string; description: string }[];
  estimate: DowntimeEstimate | null;
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
  to: string;
  estimate?: DowntimeEstimate | null;
}

/** changelog → plan: what an upgrade from → to will cross and do. Throws on bad versions (see selectReleases). */
export function buildPlan(input: BuildPlanInput): UpgradePlan {
  const releases = selectReleases(input.changelog, input.from, input.to);
  const migrations = releases.flatMap((r) => r.migrations);
  const from = input.changelog.releases.find((r) => r.version === input.from.replace(/^v/, ''))?.version ?? input.from;
  const to = releases.at(-1)!.version;
  const warnings = [
    ...migrations.filter((m) => m.warning).map((m) => `${m.version}: ${m.text}`),
    ...migrations.filter((m) => m.source === 'prose' && !m.warning).map((m) => `${m.version} announces a migration only in prose: read its entry`),
  ];
  const plan: UpgradePlan = {
    from,
    to,
    changelog: input.changelog.source,
    releases: releases.map((r) => ({ version: r.version, date: r.date, migrations: r.migrations.length })),
    migrations,
    releasesWithMigrations: releases.filter((r) => r.migrations.length > 0).length,
    warnings,
    probesMustBeDisabled: migrations.length > 0,
    steps: [],
    estimate: input.estimate ?? null,
  };
  plan.steps = UPGRADE_STEPS.map((s) => ({ name: s.name, title: s.title, description: s.describe(plan) }));
  return plan;
}

