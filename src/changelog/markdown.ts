import { Lexer, type Token, type Tokens } from 'marked';
import type { Bullet, Release, Section } from './model.js';
import { plainText } from './text.js';

const RELEASE_HEADING = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)(?:\s+-\s+(\d{4}-\d{2}-\d{2}))?\s*$/;

function linksOf(tokens: Token[] | undefined, into: string[]): void {
  for (const token of tokens ?? []) {
    if (token.type === 'link') into.push((token as Tokens.Link).href);
    const nested = (token as { tokens?: Token[] }).tokens;
    if (nested) linksOf(nested, into);
    if (token.type === 'list') for (const item of (token as Tokens.List).items) linksOf(item.tokens, into);
  }
}

/** `## v2.3.0 - 2024-01-02` releases with `### Section` headings and `-` lists, read with marked's lexer. */
export function parseMarkdown(text: string): (Omit<Release, 'migrations'> & { rawBullets: Map<Bullet, string> })[] {
  const releases: (Omit<Release, 'migrations'> & { rawBullets: Map<Bullet, string> })[] = [];
  let release: (typeof releases)[number] | null = null;
  let section: Section | null = null;
  for (const token of Lexer.lex(text)) {
    if (token.type === 'heading') {
      const heading = token as Tokens.Heading;
      if (heading.depth <= 2) {
        const match = RELEASE_HEADING.exec(heading.text.trim());
        release = match ? { version: match[1]!, date: match[2] ?? null, sections: [], prose: [], rawBullets: new Map() } : null;
        if (release) releases.push(release);
        section = null;
      } else if (release) {
        section = { title: heading.text.trim(), bullets: [], prose: [] };
        release.sections.push(section);
      }
      continue;
    }
    if (!release) continue;
    if (token.type === 'list' && section) {
      for (const item of (token as Tokens.List).items) {
        const links: string[] = [];
        linksOf(item.tokens, links);
        const bullet: Bullet = { text: plainText(item.text.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')).text, links };
        section.bullets.push(bullet);
        release.rawBullets.set(bullet, item.text);
      }
    } else if (token.type === 'paragraph' || token.type === 'list') {
      const prose = plainText(token.raw.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')).text;
      if (prose) (section ? section.prose : release.prose).push(prose);
    }
  }
  return releases;
}
