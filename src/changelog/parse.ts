import { SynupError } from '../errors.js';
import { printable } from '../ui/output.js';
import { parseMarkdown } from './markdown.js';
import type { Changelog, Migration, Release, ReleaseBody } from './model.js';
import { parseRst } from './rst.js';
import { FIRST_SECTION_RELEASE, isBoilerplate, isMigrationSection, isWarning, PROSE_MIGRATION } from './text.js';
import { compareVersions, validVersion } from './version.js';

export interface ParseOptions {
  /** Used only when the text itself does not say (the content wins over a file's extension). */
  format?: 'rst' | 'md';
  /** Where the text came from, for messages. */
  source?: string;
}

const bad = (source: string, why: string) =>
  new SynupError('usage', `changelog ${source} ${why}`, { hint: "pass the Synapse repo's CHANGELOG.rst (or a Markdown changelog) with --changelog" });

/** A web page showing the changelog (GitHub's view of the file, an error page), not the file itself. */
export const htmlPage = (source: string, why: string) =>
  new SynupError('usage', `changelog ${source} is an HTML page, not a changelog file (${why})`, {
    hint: 'point at the raw file (e.g. https://raw.githubusercontent.com/vertexproject/synapse/v<version>/CHANGELOG.rst), not a web page that shows it',
  });
const HTML = /^\s*(<!doctype html|<html[\s>])/i;

function sniff(text: string): 'rst' | 'md' | null {
  if (/^v?\d+\.\d+\.\d+\S*\s+-\s+\d{4}-\d{2}-\d{2}\s*\n=+\s*$/m.test(text)) return 'rst';
  if (/^#{1,2}\s+v?\d+\.\d+\.\d+/m.test(text)) return 'md';
  return null;
}

/**
 * A release's migrations: the bullets of its "Automatic Migrations" section(s) without the datamigration
 * boilerplate; before 2.78.0 (no such sections yet) the prose and bullets that announce one.
 */
function migrationsOf(version: string, date: string | null, body: ReleaseBody): Migration[] {
  const base = { version, date };
  const sections = body.sections.filter((s) => isMigrationSection(s.title));
  if (sections.length > 0) {
    return sections.flatMap((s) =>
      s.bullets.filter((b) => !isBoilerplate(b.text)).map((b) => ({ ...base, text: b.text, links: b.links, warning: isWarning(b.text), source: 'section' as const })),
    );
  }
  if (compareVersions(version, FIRST_SECTION_RELEASE) >= 0) return [];
  const announcements = [
    ...body.prose.map((text) => ({ text, links: [] as string[] })),
    ...body.sections.flatMap((s) => [...s.prose.map((text) => ({ text, links: [] as string[] })), ...s.bullets]),
  ].filter((b) => PROSE_MIGRATION.test(b.text));
  return announcements.map((b) => ({ ...base, text: b.text, links: b.links, warning: isWarning(b.text), source: 'prose' as const }));
}

const LAZY = Symbol('release body');
interface LazyBody {
  read: () => ReleaseBody;
  body?: ReleaseBody;
  migrations?: Migration[];
}
type LazyRelease = Release & { [LAZY]: LazyBody };

const bodyOf = (release: LazyRelease) => (release[LAZY].body ??= release[LAZY].read());

/** One set of accessors shared by every release, so all keep one shape (per-object getters make a parse 3× slower). */
const LAZY_FIELDS: PropertyDescriptorMap = {
  sections: { enumerable: true, get: function (this: LazyRelease) { return bodyOf(this).sections; } },
  prose: { enumerable: true, get: function (this: LazyRelease) { return bodyOf(this).prose; } },
  migrations: {
    enumerable: true,
    get: function (this: LazyRelease) {
      return (this[LAZY].migrations ??= migrationsOf(this.version, this.date, bodyOf(this)));
    },
  },
};

/**
 * A Release whose sections, prose and migrations are read on first access, then kept. To every reader (JSON, spread,
 * structuredClone, deep equality) they are ordinary enumerable properties; only their cost is deferred.
 */
function lazyRelease(version: string, date: string | null, read: () => ReleaseBody): Release {
  const release = Object.defineProperty({ version, date }, LAZY, { value: { read } satisfies LazyBody });
  return Object.defineProperties(release, LAZY_FIELDS) as Release;
}

/** Parses a Synapse changelog (CHANGELOG.rst or Markdown) into releases ascending by semver, with their migrations. */
export function parseChangelog(input: string, options: ParseOptions = {}): Changelog {
  const source = options.source ?? '(text)';
  let text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  if (!/\S/.test(text)) throw bad(source, 'is empty');
  if (input.includes('\u0000') || input.includes('\ufffd')) throw bad(source, 'is binary, not a text changelog');
  // Every text a plan shows comes from here: no escape sequence or control character of the file reaches a screen.
  text = printable(text);
  if (HTML.test(text)) throw htmlPage(source, 'it starts with HTML markup');
  const format = sniff(text) ?? options.format;
  if (!format) throw bad(source, 'has no releases: expected entries like "v2.170.0 - 2024-05-01" (RST) or "## v2.170.0 - 2024-05-01" (Markdown)');
  if (!text.endsWith('\n')) throw bad(source, 'appears truncated: it does not end with a newline');
  const seen = new Map<string, (string | null)[]>();
  const releases: Release[] = [];
  for (const entry of format === 'rst' ? parseRst(text) : parseMarkdown(text)) {
    const version = validVersion(entry.version);
    if (!version) continue;
    const dates = seen.get(version);
    if (dates) {
      dates.push(entry.date);
      continue;
    }
    seen.set(version, [entry.date]);
    releases.push(lazyRelease(version, entry.date, entry.body));
  }
  if (releases.length === 0) throw bad(source, 'has no releases');
  releases.sort((a, b) => compareVersions(a.version, b.version));
  // Two entries for one release (a merge gone wrong, a crafted file): the first is used, and every plan says so.
  const warnings = [...seen].filter(([, dates]) => dates.length > 1).map(([version, dates]) => `changelog ${source} has ${dates.length} entries for ${version} (${dates.map((d) => d ?? 'no date').join(', ')}): the first in the file is used; check the file`);
  return { source, format, releases, ...(warnings.length ? { warnings } : {}) };
}
