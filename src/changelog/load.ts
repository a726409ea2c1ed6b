import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import type { Changelog } from './model.js';
import { parseChangelog } from './parse.js';

export interface LoadChangelogOptions {
  cacheDir: string;
  cwd?: string;
  /** Network deadline for a URL. */
  timeoutMs?: number;
}

const isUrl = (spec: string) => /^https?:\/\//i.test(spec);
const formatOf = (name: string) => (/\.(md|markdown)$/i.test(name) ? 'md' : /\.rst$/i.test(name) ? 'rst' : undefined);

/** A changelog from a file, or from an http(s) URL fetched once and cached (a later run works offline). */
export async function loadChangelog(spec: string, options: LoadChangelogOptions): Promise<Changelog> {
  if (!isUrl(spec)) {
    const file = path.resolve(options.cwd ?? process.cwd(), spec);
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (error) {
      throw new SynupError('usage', `cannot read changelog ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
        hint: 'pass an existing CHANGELOG.rst with --changelog',
      });
    }
    return parseChangelog(bytes.toString('utf8'), { source: file, format: formatOf(file) });
  }
  const cached = path.join(options.cacheDir, `${createHash('sha256').update(spec).digest('hex').slice(0, 16)}-${path.basename(new URL(spec).pathname) || 'changelog'}`);
  if (existsSync(cached)) return parseChangelog(readFileSync(cached, 'utf8'), { source: spec, format: formatOf(spec) });
  let text: string;
  try {
    const response = await fetch(spec, { signal: AbortSignal.timeout(options.timeoutMs ?? 30_000), redirect: 'follow' });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    text = await response.text();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SynupError('failed', `cannot fetch changelog ${spec}: ${cause}`, { hint: 'check the URL, or download it and pass the file with --changelog' });
  }
  const changelog = parseChangelog(text, { source: spec, format: formatOf(spec) });
  mkdirSync(options.cacheDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(cached, text, 0o644);
  return changelog;
}
