import { loadMarked } from '../changelog/marked.js';
import type { PlanDocument } from './types.js';
import { runDirs } from '../siblings.js';
import { changelogLine, ONLINE_CUTOVER_SECONDS } from './text.js';
import { renderImpactMarkdown } from './impact-render.js';

export interface RunbookExtras {
  /** Exact argv per step for the configured adapter (from ServiceAdapter.describe / dry-run lines). */
  actions?: Record<string, string[]>;
  /** Manual rollback commands for this adapter. */
  rollback?: string[];
  title?: string;
}

const md = (text: string) => text.replace(/([\\`*_[\]<>|])/g, '\\$1');
/** A changelog link as Markdown: http(s) only, characters that could end the link percent-encoded, PRs shown as #N. */
function mdLink(url: string): string {
  if (!/^https?:\/\//i.test(url)) return '';
  const pr = /\/pull\/(\d+)$/.exec(url)?.[1];
  return `[${pr ? `#${pr}` : 'link'}](${url.replace(/[\s()<>\\"'`]/g, encodeURIComponent)})`;
}
/** A bold WARNING: the text's own leading "WARNING", or one put in front. */
const emphasizeWarning = (text: string) => (/^WARNING\b/.test(text) ? md(text).replace(/^WARNING/, '**WARNING**') : `**WARNING** ${md(text)}`);
const code = (text: string) => `\`${text.replace(/`/g, "'")}\``;

/** A runbook to paste into a change ticket: warnings first, migrations, the steps as checkboxes, rollback. */
export function renderPlanMarkdown(plan: PlanDocument, extras: RunbookExtras = {}): string {
  const out: string[] = [];
  out.push(`# ${extras.title ?? `Synapse upgrade ${plan.from} → ${plan.to}`}`, '');
  out.push(`- Releases crossed: **${plan.releases.length}** (${plan.releases[0]?.version} … ${plan.to})`);
  out.push(`- Automatic migrations: **${plan.migrations.length}** in ${plan.releasesWithMigrations} release(s)`);
  out.push(`- Startup/liveness probes: ${plan.probesMustBeDisabled ? '**must be disabled** during the first boot' : 'no migrations announced; disable them anyway'}`);
  if (plan.estimate) {
    const defrag = plan.defrag?.mode === 'online' ? `online defrag ~${ONLINE_CUTOVER_SECONDS} s (cold: ~${plan.estimate.defragSeconds.toFixed(0)} s)` : `defrag ~${plan.estimate.defragSeconds.toFixed(0)} s`;
    out.push(`- Estimated downtime: ${defrag}${plan.estimate.bootSeconds !== null ? `, first boot ~${plan.estimate.bootSeconds.toFixed(0)} s (${plan.estimate.basis}${plan.estimate.bootSource ? `, ${plan.estimate.bootSource}` : ''})` : ', first boot unknown until rehearsed'}`);
  }
  if (plan.defrag) out.push(`- Defrag: **${plan.defrag.mode}** — ${md(plan.defrag.reason)}${plan.defrag.follows ? ` (the shadow follows ${code(plan.defrag.follows)})` : ''}`);
  if (plan.dir) out.push(`- Cell dir: ${code(plan.dir)}`);
  out.push(`- Changelog: ${md(changelogLine(plan))}`, '');
  if (plan.warnings.length) {
    out.push('## Warnings', '');
    for (const w of plan.warnings) {
      const [, version = '', text = w] = /^(\d\S*: )?(.*)$/s.exec(w)!;
      out.push(`> ${version}${emphasizeWarning(text)}`, '>');
    }
    out.push('');
  }
  out.push('## Migrations', '');
  if (plan.migrations.length) {
    out.push('| Version | Date | Source | Migration |', '| --- | --- | --- | --- |');
    for (const m of plan.migrations) {
      const links = m.links.map(mdLink).join(' ');
      out.push(`| ${m.version} | ${m.date ?? ''} | ${m.source} | ${m.warning ? emphasizeWarning(m.text) : md(m.text)} ${links} |`);
    }
  } else {
    out.push('No automatic migrations between these versions.');
  }
  if (plan.impact) out.push('', renderImpactMarkdown(plan.impact).replace(/^## /, '## '));
  out.push('', '## Pre-checks', '');
  out.push('- [ ] `synup doctor` passes (sysctls, filesystem, free space)');
  out.push('- [ ] a verified backup newer than `backup.maxAge` exists (`synup backup` / `synup verify`)');
  out.push(`- [ ] a rehearsal of ${plan.from} → ${plan.to} passed (\`synup rehearse\`)`);
  out.push('- [ ] change window announced; mirrors are upgraded before their leader; AHA, Axon, JsonStor before the Cortex', '');
  out.push('## Steps', '');
  plan.steps.forEach((s, i) => {
    out.push(`${i + 1}. [ ] **${s.title}** (${code(s.name)}) — ${md(s.description).replace(/\\`([^`]+)\\`/g, '`$1`')} Started: ____ Done: ____`);
    for (const action of extras.actions?.[s.name] ?? []) out.push(`   - ${code(action)}`);
  });
  out.push('', '## Rollback', '');
  out.push('synup rolls back automatically on any failure from the stop on. By hand:', '');
  const dirs = runDirs('<dir>', '<run>');
  for (const line of extras.rollback ?? ['synup rollback --force -y', `or: stop the service; mv <dir> ${dirs.failed}; mv ${dirs.pre} <dir>; start the old version; restore the probes`]) {
    out.push(`- ${code(line)}`);
  }
  out.push('');
  return out.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Standalone, printable HTML (no external assets), rendered from the Markdown runbook with marked. */
export function renderPlanHtml(plan: PlanDocument, extras: RunbookExtras = {}): string {
  return markdownPage(extras.title ?? `Synapse upgrade ${plan.from} → ${plan.to}`, renderPlanMarkdown(plan, extras));
}

/** A Markdown runbook as one standalone, printable HTML page. */
export function markdownPage(rawTitle: string, markdown: string): string {
  const body = loadMarked().marked.parse(markdown, { async: false, gfm: true }) as string;
  const title = escapeHtml(rawTitle);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
  h1 { font-size: 1.6rem; border-bottom: 2px solid #333; padding-bottom: .3rem; }
  h2 { font-size: 1.2rem; margin-top: 1.6rem; border-bottom: 1px solid #bbb; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  th, td { border: 1px solid #999; padding: 4px 6px; vertical-align: top; text-align: left; }
  th { background: #eee; }
  td:first-child, td:nth-child(2) { white-space: nowrap; }
  blockquote { border-left: 4px solid #c00; background: #fff3f3; margin: .5rem 0; padding: .4rem .8rem; }
  code { font: 12px ui-monospace, Menlo, monospace; background: #f3f3f3; padding: 0 2px; word-break: break-all; }
  ol li { margin: .4rem 0; }
  @media print { body { margin: 0; max-width: none; font-size: 11px; } h2 { break-after: avoid; } tr, li, blockquote { break-inside: avoid; } a { color: inherit; } }
</style>
</head>
<body>
${body}
</body>
</html>
`;
}
