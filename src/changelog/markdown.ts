import type { Token, Tokens } from 'marked';
import { loadMarked } from './marked.js';
import type { Bullet, ReleaseBody, ReleaseEntry, Section } from './model.js';
import { collapseSpaces } from './text.js';

const RELEASE_HEADING = /^v?(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?)(?:\s+-\s+(\d{4}-\d{2}-\d{2}))?\s*$/;

const BLOCK = new Set(['paragraph', 'blockquote', 'heading', 'code', 'space', 'hr', 'br']);

/** Plain text of block and inline tokens, collecting http(s) link targets; nested list items read `- item` as in RST. */
function flatten(tokens: Token[] | undefined, links: string[]): string {
  let out = '';
  for (const token of tokens ?? []) {
    const pad = BLOCK.has(token.type) ? ' ' : '';
    if (token.type === 'link' && /^https?:\/\//i.test((token as Tokens.Link).href)) links.push((token as Tokens.Link).href);
    if (token.type === 'list') {
      for (const item of (token as Tokens.List).items) out += ` - ${flatten(item.tokens, links)}`;
    } else if ('tokens' in token && token.tokens) {
      out += pad + flatten(token.tokens, links) + pad;
    } else {
      out += pad + ('text' in token && typeof token.text === 'string' ? token.text : pad ? '' : token.raw) + pad;
    }
  }
  return out;
}

function plain(tokens: Token[] | undefined): Bullet {
  const links: string[] = [];
  return { text: collapseSpaces(flatten(tokens, links)), links };
}

/** `## v2.3.0 - 2024-01-02` releases with `### Section` headings and `-` lists, read with marked's lexer. */
export function parseMarkdown(text: string): ReleaseEntry[] {
  const entries: ReleaseEntry[] = [];
  let release: ReleaseBody | null = null;
  let section: Section | null = null;
  for (const token of loadMarked().Lexer.lex(text)) {
    if (token.type === 'heading') {
      const heading = token as Tokens.Heading;
      if (heading.depth <= 2) {
        const match = RELEASE_HEADING.exec(heading.text.trim());
        const body: ReleaseBody = { sections: [], prose: [] };
        release = match ? body : null;
        if (match) entries.push({ version: match[1]!, date: match[2] ?? null, body: () => body });
        section = null;
      } else if (release) {
        section = { title: heading.text.trim(), bullets: [], prose: [] };
        release.sections.push(section);
      }
      continue;
    }
    if (!release) continue;
    if (token.type === 'list' && section) {
      for (const item of (token as Tokens.List).items) section.bullets.push(plain(item.tokens));
    } else if (token.type === 'paragraph' || token.type === 'list') {
      const prose = plain([token]).text;
      if (prose) (section ? section.prose : release.prose).push(prose);
    }
  }
  return entries;
}
