import { impactCheckedLine, impactSummaryLine, renderImpactMarkdown } from '../plan/impact-render.js';
import { table } from '../ui/output.js';
import { markdownPage } from '../plan/index.js';
import { DEFAULT_PARALLEL_LANES } from './defaults.js';
import type { DeploymentPlan } from './plan.js';

const short = (text: string, max: number) => (text.length > max ? text.slice(0, max - 1) + '…' : text);
const md = (text: string) => text.replace(/([\\`*_[\]<>|])/g, '\\$1');
/** Markdown-escaped, but `code` spans kept. */
const mdCode = (text: string) => md(text).replace(/\\`([^`]+)\\`/g, '`$1`');
const roleOf = (s: DeploymentPlan['services'][number]) => (s.role === 'mirror' ? `mirror of ${s.mirrorOf}` : s.role === 'leader' ? `leader (mirrors: ${s.mirrors.join(', ')}${s.mirrors.length > 1 ? `; ${s.promoted} is promoted` : ''})` : 'standalone');

/** The order as numbered phases: tier by tier, lane by lane. */
function numbered(plan: DeploymentPlan): { n: number; tier: string; lane: number; parallel: boolean; phase: DeploymentPlan['tiers'][number]['lanes'][number]['phases'][number] }[] {
  let n = 0;
  return plan.tiers.flatMap((t) => t.lanes.flatMap((lane, li) => lane.phases.map((phase) => ({ n: ++n, tier: t.title, lane: li + 1, parallel: t.lanes.length > 1, phase }))));
}

export function renderDeploymentText(plan: DeploymentPlan): string {
  const lines = [`Deployment ${plan.deployment} (${plan.file}): ${plan.services.length} service(s), in the devops guide's order`];
  lines.push(
    table(
      ['Service', 'Kind', 'Role', 'From', 'To', 'Migrations', 'Client-visible downtime'],
      plan.services.map((s) => [s.name, s.kind, roleOf(s), s.from, s.to, String(s.migrations.length), short(s.downtime.clientVisible, 70)]),
    ),
  );
  plan.tiers.forEach((t, ti) => {
    lines.push(`Tier ${ti + 1}: ${t.title}${t.lanes.length > 1 ? ` — ${t.lanes.length} lanes, independent: may run in parallel (synup deploy upgrade --parallel N runs N at once, default ${DEFAULT_PARALLEL_LANES})` : ''}`);
    t.lanes.forEach((lane, li) => {
      if (t.lanes.length > 1) lines.push(`  lane ${li + 1}: ${lane.services.join(', ')}`);
      for (const p of lane.phases) lines.push(`    - ${p.id.padEnd(30)} ${p.description}`);
    });
  });
  for (const s of plan.services.filter((x) => x.migrations.length)) {
    lines.push(`Migrations of ${s.name} (${s.from} → ${s.to}):`);
    for (const m of s.migrations) lines.push(`  ${m.version}${m.warning && !m.text.startsWith('WARNING') ? ' WARNING' : ''} ${short(m.text, 110)}`);
  }
  for (const s of plan.services.filter((x) => x.impact)) {
    lines.push('report' in s.impact! ? `Impact on ${s.name}: ${impactSummaryLine(s.impact.report)}` : `Impact on ${s.name} not checked: ${s.impact!.error}`);
    if ('report' in s.impact!) lines.push(`  ${impactCheckedLine(s.impact.report)}`);
  }
  for (const note of plan.notes) lines.push(`Note: ${note}`);
  return lines.join('\n');
}

/** A runbook of the whole deployment, to paste into a change ticket: order, per-service migrations and steps, rollback. */
export function renderDeploymentMarkdown(plan: DeploymentPlan): string {
  const out = [`# Synapse deployment upgrade: ${md(plan.deployment)}`, ''];
  out.push(`Deployment file: \`${plan.file}\`. Order: the devops guide's Update Sequencing; mirrored services by its Low Downtime Updates.`, '');
  out.push('| Service | Kind | Role | From | To | Migrations | Client-visible downtime |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const s of plan.services) out.push(`| ${md(s.name)} | ${s.kind} | ${md(roleOf(s))} | ${s.from} | ${s.to} | ${s.migrations.length} | ${md(s.downtime.clientVisible)} |`);
  out.push('', '## Order', '');
  for (const { n, tier, lane, parallel, phase } of numbered(plan)) {
    out.push(`${n}. [ ] **${tier}${parallel ? `, lane ${lane} (may run in parallel with the tier's other lanes)` : ''}** \`${phase.id}\` — ${mdCode(phase.description)} Started: ____ Done: ____`);
  }
  for (const s of plan.services) {
    out.push('', `## ${md(s.name)} (${s.kind}, ${md(roleOf(s))}): ${s.from} → ${s.to}`, '');
    out.push(`- Cell dir: \`${s.cellDir}\`, adapter ${s.adapter}; changelog \`${s.changelog}\``);
    for (const w of s.warnings) out.push(`- **WARNING** ${md(w)}`);
    if (s.migrations.length) for (const m of s.migrations) out.push(`- Migration ${m.version}: ${md(m.text)}`);
    else out.push('- No automatic migrations.');
    if (s.impact && 'report' in s.impact) out.push('', renderImpactMarkdown(s.impact.report).replace(/^(#+) /gm, '#$1 '));
    else if (s.impact) out.push(`- Impact not checked: ${md(s.impact.error)}`);
    out.push('', 'Single-cell steps (`synup upgrade`):', '');
    s.steps.forEach((step, i) => out.push(`${i + 1}. \`${step.name}\` — ${mdCode(step.description)}`));
  }
  out.push('', '## Rollback', '');
  out.push('- synup stops at the first service that fails and rolls that one back (its pre-upgrade data, never the old binary on new data); services before it stay upgraded, services after it untouched. `synup deploy status` says which service is at which version; `synup deploy resume` goes on.');
  out.push('- After a promotion, the new leader has run migrations: going back means restoring the pre-upgrade backup of every service of that lane.');
  for (const note of plan.notes) out.push(`- Note: ${md(note)}`);
  out.push('');
  return out.join('\n');
}

export const renderDeploymentHtml = (plan: DeploymentPlan) => markdownPage(`Synapse deployment upgrade: ${plan.deployment}`, renderDeploymentMarkdown(plan));
