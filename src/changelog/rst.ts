import type { ReleaseEntry, Section } from './model.js';
import { plainText } from './text.js';

const RELEASE_HEADER = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\s+-\s+(\d{4}-\d{2}-\d{2})\s*$/;
function isUnderline(line: string | undefined, ch: '=' | '-'): boolean {
  if (line === undefined || line.length < 3) return false;
  for (let i = 0; i < line.length; i++) if (line[i] !== ch) return false;
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
 * CHANGELOG.rst as Synapse writes it: `vX.Y.Z - YYYY-MM-DD` entries underlined with `=`, sections underlined with
 * `-`, top-level `- ` bullets with indented continuation (nested bullets, several paragraphs, `::` literal blocks).
 * Blocks with another `=` title (e.g. "API Deprecation Notice") end the previous entry and are not releases.
 */
export function parseRst(text: string): ReleaseEntry[] {
  const lines = (text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text).split('\n');
  const releases: ReleaseEntry[] = [];
  let release: ReleaseEntry | null = null;
  let section: Section | null = null;
  let bullet: { lines: string[] } | null = null;
  let paragraph: string[] = [];

  const flushParagraph = () => {
    if (paragraph.length && release) {
      const { text: prose } = plainText(paragraph.join(' '));
      if (prose) (section ? section.prose : release.prose).push(prose);
    }
    paragraph = [];
  };
  const flushBullet = () => {
    if (bullet && section) section.bullets.push(plainText(bullet.lines.join(' ')));
    bullet = null;
  };
  const flushAll = () => {
    flushBullet();
    flushParagraph();
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    const next = lines[i + 1];
    if (trimmed && isUnderline(next, '=')) {
      flushAll();
      section = null;
      const match = RELEASE_HEADER.exec(trimmed);
      release = match ? { version: match[1]!, date: match[2]!, sections: [], prose: [] } : null;
      if (release) releases.push(release);
      i++;
      continue;
    }
    if (!release) continue;
    const indented = line.startsWith(' ');
    if (trimmed && !indented && isUnderline(next, '-')) {
      flushAll();
      section = { title: trimmed, bullets: [], prose: [] };
      release.sections.push(section);
      i++;
      continue;
    }
    if (line.startsWith('- ') || line === '-') {
      flushAll();
      if (section) bullet = { lines: [line.slice(2)] };
      else paragraph.push(line.slice(2));
      continue;
    }
    if (bullet) {
      // Indented lines (nested bullets, continuation, literal blocks) and blank lines between them stay in the bullet.
      if (indented || (trimmed === '' && (next === undefined || next.startsWith(' ') || next.trim() === ''))) {
        const kept = trimmed ? withoutLiteralMarker(trimmed) : null;
        if (kept !== null) bullet.lines.push(kept);
        continue;
      }
      flushBullet();
    }
    if (trimmed === '') flushParagraph();
    else if (!line.startsWith('..')) paragraph.push(trimmed);
  }
  flushAll();
  return releases;
}
