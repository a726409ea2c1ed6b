import type { BulletRef, ImpactReport } from './impact.js';

const pr = (b: BulletRef) => b.links.map((l) => l.replace(/^https:\/\/github\.com\/vertexproject\/synapse\/pull\//, '#')).join(' ') || 'no PR link';
const cite = (b: BulletRef) => `${b.version} ${b.action} (${pr(b)})`;
const seconds = (s: number) => (s < 10 ? s.toFixed(1) : Math.round(s).toString()) + ' s';

/** Where the predicted first boot comes from, in a few words: the measured boot that calibrated it, or none. */
export function migrationBasis(r: ImpactReport): string {
  const e = r.migrationEstimate;
  return e.calibrated
    ? `calibrated by ${e.source}: fixed part ${seconds(e.fixedSeconds)} as measured, migrations scaled to this cell's counts; built-in rates alone say ${seconds(e.builtInSeconds)}`
    : 'built-in rates, uncalibrated: a rehearsal (synup rehearse) or an upgrade of the same migrations measures this machine';
}

/** What was looked at, in one sentence: an empty report is evidence, not silence. */
export function impactCheckedLine(r: ImpactReport): string {
  const c = r.checked;
  const code = c.stormObjects === null ? 'stored Storm not read (offline: it is read through Storm on the running Cortex)' : `${c.stormObjects} Storm objects (${c.stormLines} lines: cron jobs, triggers, macros, dmons, packages)`;
  return `checked ${c.bullets} changelog bullets ${r.from} → ${r.to} (${c.byCategory.checked ?? 0} naming something a cell holds), ${c.namesCounted}/${c.names} names counted, ${c.forms} forms and ${c.nodes} nodes, ${code}, ${c.configKeys} configuration keys; read ${r.source === 'storm' ? 'through Storm from' : 'offline from'} ${r.where} in ${c.readMs} ms`;
}

/** One line for upgrade's preflight and deploy plan. */
export function impactSummaryLine(r: ImpactReport): string {
  const parts = [
    r.code.length && `${r.code.length} deprecated use(s) in stored Storm`,
    r.config.length && `${r.config.length} deprecated configuration key(s)`,
    r.packageKeys.length && `${r.packageKeys.length} deprecated package key(s)`,
    r.data.length && `${r.data.reduce((s, d) => s + d.count, 0)} nodes of ${r.data.length} deprecated/changed form(s) or propert(ies)`,
  ].filter(Boolean);
  return `${parts.length ? parts.join(', ') : 'nothing in this cell uses what the changelog deprecates or changes'}; first boot with migrations predicted ${seconds(r.predictedMigrationSeconds)} (${r.migrationEstimate.calibrated ? `calibrated by ${r.migrationEstimate.source}` : 'built-in rates, uncalibrated'})`;
}

export function renderImpactText(r: ImpactReport): string {
  const lines = [`Impact of ${r.from} → ${r.to} on this cell (${r.source === 'storm' ? 'running Cortex, Storm' : 'offline, LMDB files'})`];
  lines.push('', 'Data (nodes of forms and properties a crossed bullet deprecates, removes or changes):');
  if (r.data.length === 0) lines.push('  none');
  for (const d of r.data) lines.push(`  ${d.name}: ${d.count} nodes — ${cite(d.bullet)}: ${d.bullet.text}`);
  lines.push('', 'Stored Storm using deprecated names:');
  if (r.checked.stormObjects === null) lines.push('  not read (offline)');
  else if (r.code.length === 0) lines.push('  none');
  for (const h of r.code) lines.push(`  ${h.object.type} ${h.object.name} (${h.object.iden})${h.object.part ? ` ${h.object.part}` : ''} line ${h.line}: ${h.uses} — ${cite(h.bullet)}`, `      ${h.text}`);
  for (const k of r.packageKeys) lines.push(`  package ${k.package} ${k.where}: key ${k.key} — ${cite(k.bullet)}`);
  lines.push('', 'Configuration keys deprecated or removed:');
  if (r.config.length === 0) lines.push('  none');
  for (const c of r.config) lines.push(`  ${c.where}: ${c.key} — ${cite(c.bullet)}: ${c.bullet.text}`);
  lines.push('', `Migrations (first boot of ${r.to}, start → active and migrated, predicted ${seconds(r.predictedMigrationSeconds)}; ${migrationBasis(r)}):`);
  if (r.migrations.length === 0) lines.push('  no crossed migration rewrites nodes by form');
  for (const m of r.migrations) lines.push(`  ${m.version}: ${m.scan === 'subset' ? 'a few values lifted (not by count)' : `${m.nodes} nodes`}, ~${seconds(m.seconds)} — ${m.text.slice(0, 120)}`);
  if (r.unclassified.length) {
    lines.push('', `Bullets synup cannot classify (${r.unclassified.length}; read them yourself):`);
    for (const u of r.unclassified) lines.push(`  ${u.version} (${pr(u)}): ${u.text}`);
  }
  lines.push('', impactCheckedLine(r), r.clean ? 'clean: no deprecated use in stored Storm, configuration or packages' : 'NOT clean: deprecated use remains (upgrade --require-clean-impact refuses)');
  return lines.join('\n');
}

/** The runbook's section (Markdown). */
export function renderImpactMarkdown(r: ImpactReport): string {
  const md = (s: string) => s.replace(/([\\`*_[\]|<>])/g, '\\$1');
  const out = [`## What this upgrade touches in this cell`, '', md(impactCheckedLine(r)) + '.', ''];
  const table = (head: string[], rows: string[][]) => rows.length ? [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.map(md).join(' | ')} |`), ''] : ['None.', ''];
  out.push('### Data', '', ...table(['form or property', 'nodes', 'bullet'], r.data.map((d) => [d.name, String(d.count), `${cite(d.bullet)}: ${d.bullet.text}`])));
  out.push('### Stored Storm', '', ...(r.checked.stormObjects === null ? ['Not read (offline).', ''] : table(['object', 'line', 'uses', 'bullet'], [
    ...r.code.map((h) => [`${h.object.type} ${h.object.name} (${h.object.iden})${h.object.part ? ` ${h.object.part}` : ''}`, String(h.line), h.uses, cite(h.bullet)]),
    ...r.packageKeys.map((k) => [`package ${k.package} ${k.where}`, '', `key ${k.key}`, cite(k.bullet)]),
  ])));
  out.push('### Configuration', '', ...table(['where', 'key', 'bullet'], r.config.map((c) => [c.where, c.key, `${cite(c.bullet)}: ${c.bullet.text}`])));
  out.push(`### Migrations (predicted ${seconds(r.predictedMigrationSeconds)})`, '', md(`First boot of ${r.to}, start → active and migrated; ${migrationBasis(r)}.`), '', ...table(['release', 'nodes', 'predicted', 'migration'], r.migrations.map((m) => [m.version, String(m.nodes), seconds(m.seconds), m.text])));
  if (r.unclassified.length) out.push('### Not classified', '', ...r.unclassified.map((u) => `- ${u.version}: ${md(u.text)}`), '');
  return out.join('\n');
}
