import semver from 'semver';
import { SynupError } from '../errors.js';
import { parseMarkdown } from './markdown.js';
import type { Bullet, Changelog, Migration, Release } from './model.js';
import { parseRst } from './rst.js';
import { FIRST_SECTION_RELEASE, isBoilerplate, isMigrationSection, isWarning, plainText, PROSE_MIGRATION } from './text.js';

export interface ParseOptions {
  format?: 'rst' | 'md';
  /** Where the text came from, for messages. */
  source?: string;
}

const bad = (source: string, why: string) =>
  new SynupError('usage', `changelog ${source} ${why}`, { hint: 'pass the Synapse repo\'s CHANGELOG.rst (or a Markdown changelog) with --changelog' });

function sniff(text: string): 'rst' | 'md' | null {
  if (/^v?\d+\.\d+\.\d+\S*\s+-\s+\d{4}-\d{2}-\d{2}\s*\n=+\s*$/m.test(text)) return 'rst';
  if (/^#{1,2}\s+v?\d+\.\d+\.\d+/m.test(text)) return 'md';
  return null;
}

function migrationsOf(release: Omit<Release, 'migrations'>, rawBullets: Map<Bullet, string>): Migration[] {
  const base = { version: release.version, date: release.date };
  const sections = release.sections.filter((s) => isMigrationSection(s.title));
  if (sections.length > 0) {
    return sections.flatMap((s) =>
      s.bullets
        .filter((b) => !isBoilerplate(rawBullets.get(b) ?? b.text))
        .map((b) => ({ ...base, text: b.text, links: b.links, warning: isWarning(b.text), source: 'section' as const })),
    );
  }
  if (!semver.lt(release.version, FIRST_SECTION_RELEASE)) return [];
  const fromProse = release.prose.filter((p) => PROSE_MIGRATION.test(p)).map((p) => ({ text: p, links: [] as string[] }));
  const fromBullets = release.sections.flatMap((s) => [
    ...s.bullets.filter((b) => PROSE_MIGRATION.test(b.text)),
    ...s.prose.filter((p) => PROSE_MIGRATION.test(p)).map((p) => ({ text: p, links: [] as string[] })),
  ]);
  return [...fromProse, ...fromBullets].map((b) => ({ ...base, text: b.text, links: b.links, warning: isWarning(b.text), source: 'prose' as const }));
}

/** Parses a Synapse changelog (CHANGELOG.rst or Markdown) into releases ascending by semver, with their migrations. */
export function parseChangelog(text: string, options: ParseOptions = {}): Changelog {
  const source = options.source ?? '(text)';
  if (text.trim() === '') throw bad(source, 'is empty');
  if (text.includes('\u0000') || text.includes('\ufffd')) throw bad(source, 'is binary, not a text changelog');
  const format = options.format ?? sniff(text);
  if (!format) throw bad(source, 'has no releases: expected entries like "v2.170.0 - 2024-05-01" (RST) or "## v2.170.0 - 2024-05-01" (Markdown)');
  if (!text.endsWith('\n')) throw bad(source, 'appears truncated: it does not end with a newline');
  const raw = format === 'rst' ? parseRst(text) : parseMarkdown(text);
  const seen = new Set<string>();
  const releases: Release[] = [];
  for (const { rawBullets, ...release } of raw) {
    if (!semver.valid(release.version) || seen.has(release.version)) continue;
    seen.add(release.version);
    releases.push({ ...release, migrations: migrationsOf(release, rawBullets) });
  }
  if (releases.length === 0) throw bad(source, 'has no releases');
  releases.sort((a, b) => semver.compare(a.version, b.version));
  return { source, format, releases };
}

export { plainText };
