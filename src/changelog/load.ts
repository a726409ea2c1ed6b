import { existsSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { ensurePrivateDir, readBoundedText, writeFileAtomic } from '../fsutil.js';
import type { Changelog } from './model.js';
import { htmlPage, parseChangelog } from './parse.js';

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

const HINT = "pass the Synapse repo's CHANGELOG.rst (a file path, or an https:// URL) with --changelog";
const hasScheme = (spec: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(spec);
const formatOf = (name: string) => (/\.(md|markdown)$/i.test(name) ? 'md' : /\.rst$/i.test(name) ? 'rst' : undefined);
const tooBig = (source: string) => new SynupError('usage', `changelog ${source} is over ${MAX_BYTES / 2 ** 20} MiB: too big for a changelog`, { hint: HINT });

/** Only regular files, read with a size cap: a device (/dev/zero) or a FIFO is refused, not read forever. */
export function readChangelogFile(file: string): string {
  return readBoundedText(file, { what: 'changelog', noun: 'a changelog', maxBytes: MAX_BYTES, hint: HINT, readHint: 'pass an existing CHANGELOG.rst (or Markdown changelog) with --changelog' });
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Which URLs synup fetches: https anywhere; plain http only from loopback (a local mirror or a test server),
 * because a changelog read over the network decides which migrations an operator is warned about. Every redirect
 * hop is held to the same rule (`what` then names the hop).
 */
function checkUrl(spec: string, what = `changelog ${spec}`): URL {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new SynupError('usage', `changelog URL ${spec} is not a valid URL`, { hint: HINT });
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.test(url.hostname))) return url;
  if (url.protocol === 'file:') throw new SynupError('usage', `${what}: file:// URLs are not read`, { hint: `pass the file's path instead: --changelog ${url.pathname}` });
  if (url.protocol === 'http:') throw new SynupError('usage', `${what}: plain http is only fetched from loopback`, { hint: `use https://${url.host}${url.pathname}` });
  throw new SynupError('usage', `${what}: unsupported URL scheme ${url.protocol.replace(/:$/, '')}`, { hint: HINT });
}

/** Why a fetch failed, from the innermost cause (undici says only "fetch failed"). */
function fetchCause(error: unknown): string {
  let cause: unknown = error;
  while ((cause as { cause?: unknown })?.cause) cause = (cause as { cause: unknown }).cause;
  const { code, message } = cause as { code?: string; message?: string };
  if ((error as Error).name === 'TimeoutError') return 'timed out';
  return code ?? message ?? String(cause);
}

const MAX_REDIRECTS = 5;
const REDIRECT = new Set([301, 302, 303, 307, 308]);
const NETWORK_HINT = 'check the URL and the network, or download the file and pass its path with --changelog';
const cannotFetch = (url: URL, why: string, hint = NETWORK_HINT) => new SynupError('failed', `cannot fetch changelog ${url.href}: ${why}`, { hint });

/**
 * The body of an https URL (http on loopback), size capped while reading, and the URL it really came from: redirects
 * are followed by hand (at most 5), each hop checked like the URL itself. A clear error with the URL, the real cause
 * and a hint otherwise: also when the body breaks off, and for an HTML page (a web view of the file, not the file).
 */
export async function fetchText(spec: string, timeoutMs: number): Promise<{ text: string; url: string }> {
  let url = checkUrl(spec);
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  for (let redirects = 0; ; redirects++) {
    try {
      response = await fetch(url, { signal, redirect: 'manual' });
    } catch (error) {
      throw cannotFetch(url, fetchCause(error));
    }
    if (!REDIRECT.has(response.status)) break;
    await response.body?.cancel().catch(() => undefined);
    const location = response.headers.get('location');
    if (!location) throw cannotFetch(url, `HTTP ${response.status} redirect without a Location`);
    if (redirects === MAX_REDIRECTS) throw cannotFetch(new URL(spec), `more than ${MAX_REDIRECTS} redirects (stopped at ${url.href})`);
    let next: string;
    try {
      next = new URL(location, url).href;
    } catch {
      throw cannotFetch(url, `HTTP ${response.status} redirect to an invalid URL ${JSON.stringify(location.slice(0, 200))}`);
    }
    url = checkUrl(next, `changelog ${url.href} redirects to ${next}`);
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw cannotFetch(url, `HTTP ${response.status} ${response.statusText}`.trim(), 'check the URL, or download the file and pass its path with --changelog');
  }
  const type = response.headers.get('content-type') ?? '';
  if (/^\s*text\/html\b/i.test(type)) {
    await response.body?.cancel().catch(() => undefined);
    throw htmlPage(url.href, `content-type ${type}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of response.body ?? []) {
      total += chunk.length;
      if (total > MAX_BYTES) {
        await response.body?.cancel().catch(() => undefined);
        throw tooBig(url.href);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof SynupError) throw error;
    const why = fetchCause(error);
    throw cannotFetch(url, why === 'timed out' ? `timed out while reading the body (after ${total} bytes)` : `the connection ended while reading the body (${why}, after ${total} bytes)`);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), url: url.href };
}

/** The cache file of a URL: readable name, hash for uniqueness. */
async function cacheFileFor(url: string, cacheDir: string): Promise<string> {
  const { createHash } = await import('node:crypto'); // only for URLs: a plan from a file does not load crypto
  const name = path.basename(new URL(url).pathname).replace(/[^\w.-]/g, '_') || 'changelog';
  return path.join(cacheDir, `${createHash('sha256').update(url).digest('hex').slice(0, 16)}-${name}`);
}

/**
 * A changelog from a regular file, or from an https URL (http on loopback) fetched once and cached in `cacheDir` (later runs work offline;
 * delete the cached file to fetch again). Only a changelog that parses is cached.
 */
export async function loadChangelog(spec: string, options: LoadChangelogOptions): Promise<Changelog> {
  if (!hasScheme(spec)) {
    const file = path.resolve(options.cwd ?? process.cwd(), spec);
    return parseChangelog(readChangelogFile(file), { source: file, format: formatOf(file) });
  }
  checkUrl(spec); // refused before the cache is consulted
  const cached = await cacheFileFor(spec, options.cacheDir);
  if (existsSync(cached)) return { ...parseChangelog(readChangelogFile(cached), { source: spec, format: formatOf(spec) }), cachedFile: cached };
  const { text } = await fetchText(spec, options.timeoutMs ?? 30_000);
  const changelog = parseChangelog(text, { source: spec, format: formatOf(spec) });
  ensurePrivateDir(options.cacheDir);
  writeFileAtomic(cached, text, 0o644);
  return { ...changelog, cachedFile: cached };
}
