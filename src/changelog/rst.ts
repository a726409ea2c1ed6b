import type { Bullet, Release, Section } from './model.js';
import { plainText } from './text.js';

const RELEASE_HEADER = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)\s+-\s+(\d{4}-\d{2}-\d{2})\s*$/;
function isUnderline(line: string | undefined, ch: '=' | '-'): boolean {
  if (line === undefined || line.length < 3) return false;
  for (let i = 0; i < line.length; i++) if (line[i] !== ch) return false;
  return true;
}

type RawRelease = Omit<Release, 'migrations'> & { rawBullets: Map<Bullet, string> };

/**
 * CHANGELOG.rst as Synapse writes it: `vX.Y.Z - YYYY-MM-DD` entries underlined with `=`, sections underlined with
 * `-`, top-level `- ` bullets with indented continuation (nested bullets, several paragraphs, `::` literal blocks).
 * Blocks with another `=` title (e.g. "API Deprecation Notice") end the previous entry and are not releases.
 */
export function parseRst(text: string): RawRelease[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const releases: RawRelease[] = [];
  let release: RawRelease | null = null;
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
    if (bullet && section && release) {
      const raw = bullet.lines.join('\n');
      const { text: clean, links } = plainText(raw);
      const made: Bullet = { text: clean, links };
      section.bullets.push(made);
      release.rawBullets.set(made, raw);
    }
    bullet = null;
  };
  const flushAll = () => {
    flushBullet();
    flushParagraph();
  };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const next = lines[i + 1];
    if (line.trim() && isUnderline(next, '=')) {
      flushAll();
      section = null;
      const match = RELEASE_HEADER.exec(line.trim());
      release = match ? { version: match[1]!, date: match[2]!, sections: [], prose: [], rawBullets: new Map() } : null;
      if (release) releases.push(release);
      i++;
      continue;
    }
    if (!release) continue;
    if (line.trim() && !line.startsWith(' ') && isUnderline(next, '-')) {
      flushAll();
      section = { title: line.trim(), bullets: [], prose: [] };
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
      if (line.startsWith(' ') || (line.trim() === '' && (next === undefined || next.startsWith(' ') || next.trim() === ''))) {
        if (line.trim()) bullet.lines.push(line.trim());
        continue;
      }
      flushBullet();
    }
    if (line.trim() === '') flushParagraph();
    else if (!line.startsWith('..')) paragraph.push(line.trim());
  }
  flushAll();
  return releases;
}
