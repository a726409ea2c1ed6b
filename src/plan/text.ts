import { columns, table } from '../ui/output.js';
import { impactCheckedLine, impactSummaryLine } from './impact-render.js';
import type { PlanDocument, UpgradePlan } from './types.js';
import { formatBytes } from '../units.js';

/**
 * Online defrag's part of the downtime: the shadow's last entries, its stop, the check and two renames — it does not
 * grow with the data. Measured by bench/upgrade.mjs (the sim) and the real-Cortex test.
 */
export const ONLINE_CUTOVER_SECONDS = 3;

const short = (text: string, max: number) => (text.length > max ? text.slice(0, max - 1) + '…' : text);

/** The changelog a plan was made from and its newest entry, e.g. `/x/CHANGELOG.rst (newest entry 2.250.0, 2026-08-21)`. */
export function changelogLine(plan: Pick<UpgradePlan, 'changelog' | 'changelogNewest'>): string {
  const { version, date } = plan.changelogNewest;
  return `${plan.changelog} (newest entry ${version}${date ? `, ${date}` : ''})`;
}

/** Flyway `info` style: a summary, the warnings, one row per migration (ascending), then the steps. */
export function renderPlanText(plan: PlanDocument): string {
  const lines = [
    `Upgrade ${plan.from} → ${plan.to}${plan.dir ? ` (${plan.dir})` : ''}: ${plan.releases.length} release(s) crossed, ${plan.migrations.length} migration(s) in ${plan.releasesWithMigrations} release(s)`,
    plan.probesMustBeDisabled ? 'Probes: MUST be disabled during the first boot (migrations make it slow)' : 'Probes: no migrations announced; disabling them is still the safe default',
    `Changelog: ${changelogLine(plan)}`,
    ...plan.warnings.map((w) => `WARNING ${short(w, 200)}`),
  ];
  if (plan.migrations.length) {
    const rows = plan.migrations.map((m) => [m.version, m.date ?? '', m.source, m.warning ? 'yes' : '', short(m.text, 90)]);
    lines.push(table(['Version', 'Date', 'Source', 'Warning', 'Migration'], rows));
  } else {
    lines.push('No automatic migrations between these versions.');
  }
  if (plan.estimate) {
    const e = plan.estimate;
    const defrag = plan.defrag?.mode === 'online' ? `defrag online: the shadow swap, ~${ONLINE_CUTOVER_SECONDS} s whatever the size (cold: ${e.defragSeconds.toFixed(0)} s for ${formatBytes(e.dataBytes)})` : `defrag ${e.defragSeconds.toFixed(0)} s for ${formatBytes(e.dataBytes)}`;
    lines.push(`Estimated downtime: ${defrag}${e.bootSeconds !== null ? ` + first boot ${e.bootSeconds.toFixed(0)} s (${e.basis}${e.bootSource ? `, ${e.bootSource}` : ''})` : ' + first boot (unknown until a rehearsal: synup rehearse)'}`);
  }
  if (plan.defrag) lines.push(`Defrag: ${plan.defrag.mode} (${plan.defrag.reason}${plan.defrag.follows ? `; the shadow follows ${plan.defrag.follows}` : ''})`);
  if (plan.impact) lines.push(`Impact on this cell: ${impactSummaryLine(plan.impact)}`, `  ${impactCheckedLine(plan.impact)} (details: synup check --to ${plan.to})`);
  lines.push('Steps:');
  lines.push(...columns(plan.steps.map((s, i) => [`${i + 1}.`, s.name, s.description]), { indent: '  ', right: [0] }));
  return lines.join('\n');
}
