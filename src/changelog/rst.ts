import type { ReleaseBody, ReleaseEntry, Section } from './model.js';
import { plainText } from './text.js';

/** A title: a line starting at column 0 underlined with `=`. Releases and other blocks alike. */
const TITLE = /^(\S[^\n]*)\n={3,}[ \t]*$/gm;
const RELEASE_HEADER = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\s+-\s+(\d{4}-\d{2}-\d{2})\s*$/;

function isUnderline(line: string | undefined): boolean {
  if (line === undefined || line.length < 3) return false;
  for (let i = 0; i < line.length; i++) if (line.charCodeAt(i) !== 45) return false;
  return true;
}

/** `text::` introduces a literal block: the marker reads as `text:`, a `::` on its own (or after a space) vanishes. */
function withoutLiteralMarker(line: string): string | null {
  if (!line.endsWith('::')) return line;
  const text = line.slice(0, -2);
  if (text.trim() === '') return null;
  return text.endsWith(' ') ? text.trimEnd() : text + ':';
}

/**
 * CHANGELOG.rst as Synapse writes it: `vX.Y.Z - YYYY-MM-DD` entries underlined with `=`, each body running to the
 * next `=` title. Blocks with another `=` title (e.g. "API Deprecation Notice") end the previous entry and are not
 * releases. Bodies are parsed on first use (parseRstBody).
 */
export function parseRst(text: string): ReleaseEntry[] {
  const normalized = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
  const titles = [...normalized.matchAll(TITLE)];
  const entries: ReleaseEntry[] = [];
  titles.forEach((title, n) => {
    const match = RELEASE_HEADER.exec(title[1]!.trim());
    if (!match) return;
    const start = title.index + title[0].length + 1;
    const end = titles[n + 1]?.index ?? normalized.length;
    entries.push({ version: match[1]!, date: match[2]!, body: () => parseRstBody(normalized.slice(start, end)) });
  });
  return entries;
}

/**
 * One entry's body: sections underlined with `-`, top-level `- ` bullets with indented continuation (nested
 * bullets, several paragraphs, `::` literal blocks), and paragraphs outside bullets (prose).
 */
export function parseRstBody(body: string): ReleaseBody {
  const lines = body.split('\n');
  const release: ReleaseBody = { sections: [], prose: [] };
  let section: Section | null = null;
  let bullet: string[] | null = null;
  let paragraph: string[] = [];

  const flushParagraph = () => {
    if (paragraph.length) {
      const { text: prose } = plainText(paragraph.join(' '));
      if (prose) (section ? section.prose : release.prose).push(prose);
    }
    paragraph = [];
  };
  const flushBullet = () => {
    if (bullet && section) {
      const made = plainText(bullet.join(' '));
      if (made.text) section.bullets.push(made);
    }
    bullet = null;
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    const next = lines[i + 1];
    const indented = line.startsWith(' ');
    if (trimmed && !indented && isUnderline(next)) {
      flushBullet();
      flushParagraph();
      section = { title: trimmed, bullets: [], prose: [] };
      release.sections.push(section);
      i++;
      continue;
    }
    if (line.startsWith('- ') || line === '-') {
      flushBullet();
      flushParagraph();
      const first = withoutLiteralMarker(line.slice(2).trim());
      if (section) bullet = first === null ? [] : [first];
      else if (first !== null) paragraph.push(first);
      continue;
    }
    if (bullet) {
      // Indented lines (nested bullets, continuation, literal blocks) and blank lines between them stay in the bullet.
      if (indented || (trimmed === '' && (next === undefined || next.startsWith(' ') || next.trim() === ''))) {
        const kept = trimmed ? withoutLiteralMarker(trimmed) : null;
        if (kept !== null) bullet.push(kept);
        continue;
      }
      flushBullet();
    }
    if (trimmed === '') flushParagraph();
    else if (!line.startsWith('..')) {
      const kept = withoutLiteralMarker(trimmed);
      if (kept !== null) paragraph.push(kept);
    }
  }
  flushBullet();
  flushParagraph();
  return release;
}
