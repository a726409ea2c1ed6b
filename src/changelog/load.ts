import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../fsutil.js';
import type { Changelog } from './model.js';
import { parseChangelog } from './parse.js';

export interface LoadChangelogOptions {
  /** Where fetched changelogs are kept (`<state dir>/changelogs`): each URL is fetched once. */
  cacheDir: string;
  /** Base for a relative file path. */
  cwd?: string;
  /** Network deadline for a URL. */
  timeoutMs?: number;
}

/** The real CHANGELOG.rst is 0.5 MiB; anything this big is not a changelog (and must not be read into memory). */
const MAX_BYTES = 32 * 2 ** 20;

const isUrl = (spec: string) => /^https?:\/\//i.test(spec);
const formatOf = (name: string) => (/\.(md|markdown)$/i.test(name) ? 'md' : /\.rst$/i.test(name) ? 'rst' : undefined);
const tooBig = (source: string, bytes: number) =>
  new SynupError('usage', `changelog ${source} is ${(bytes / 2 ** 20).toFixed(0)} MiB: too big for a changelog`, { hint: "pass the Synapse repo's CHANGELOG.rst with --changelog" });

export function readChangelogFile(file: string): string {
  try {
    if (statSync(file).size > MAX_BYTES) throw tooBig(file, statSync(file).size);
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof SynupError) throw error;
    throw new SynupError('usage', `cannot read changelog ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      hint: 'pass an existing CHANGELOG.rst (or Markdown changelog) with --changelog',
    });
  }
}

export async function fetchText(url: string, timeoutMs: number): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow' });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > MAX_BYTES) {
      await response.body?.cancel();
      throw tooBig(url, length);
    }
    return await response.text();
  } catch (error) {
    if (error instanceof SynupError) throw error;
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SynupError('failed', `cannot fetch changelog ${url}: ${cause}`, { hint: 'check the URL and the network, or download the file and pass its path with --changelog' });
  }
}

/** The cache file of a URL: readable name, hash for uniqueness. */
function cacheFileFor(url: string, cacheDir: string): string {
  const name = path.basename(new URL(url).pathname).replace(/[^\w.-]/g, '_') || 'changelog';
  return path.join(cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${name}`);
}

/**
 * A changelog from a file, or from an http(s) URL fetched once and cached in `cacheDir` (later runs work offline;
 * delete the cached file to fetch again). Only a changelog that parses is cached.
 */
export async function loadChangelog(spec: string, options: LoadChangelogOptions): Promise<Changelog> {
  if (!isUrl(spec)) {
    const file = path.resolve(options.cwd ?? process.cwd(), spec);
    return parseChangelog(readChangelogFile(file), { source: file, format: formatOf(file) });
  }
  const cached = cacheFileFor(spec, options.cacheDir);
  if (existsSync(cached)) return { ...parseChangelog(readChangelogFile(cached), { source: spec, format: formatOf(spec) }), cachedFile: cached };
  const text = await fetchText(spec, options.timeoutMs ?? 30_000);
  const changelog = parseChangelog(text, { source: spec, format: formatOf(spec) });
  ensurePrivateDir(options.cacheDir);
  writeFileAtomic(cached, text, 0o644);
  return { ...changelog, cachedFile: cached };
}
