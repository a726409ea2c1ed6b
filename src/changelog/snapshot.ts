import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynupError, usageError } from '../errors.js';
import { ensurePrivateDir, writeFileAtomic } from '../fsutil.js';
import { fetchText, readChangelogFile } from './load.js';
import type { Changelog } from './model.js';
import { parseChangelog } from './parse.js';
import { normalizeVersion } from './select.js';
import { compareVersions } from './version.js';

/**
 * The changelog synup uses when none is given: Synapse's CHANGELOG.rst, a snapshot shipped in changelogs/
 * (Synapse's wheel and images do not ship it), or a newer copy that `synup changelog update` fetched into the
 * state dir. Synapse tags every release `v<version>`, so a copy fetched at a tag is exactly that release's file.
 */

/** changelogs/synapse-CHANGELOG.rst in the package: the same from src/ and dist/. */
export const BUILTIN_CHANGELOG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'changelogs', 'synapse-CHANGELOG.rst');
/** Where `synup changelog update` fetches from: `<base>/v<version>/CHANGELOG.rst`. */
export const DEFAULT_CHANGELOG_BASE_URL = 'https://raw.githubusercontent.com/vertexproject/synapse';

const UPDATE_FILE = /^synapse-CHANGELOG-v(\d+\.\d+\.\d+)\.rst$/;
const updateFile = (cacheDir: string, version: string) => path.join(cacheDir, `synapse-CHANGELOG-v${version}.rst`);

/** The newest release of a changelog: what names the snapshot in plans and messages. */
export function newestRelease(changelog: Changelog): { version: string; date: string | null } {
  const { version, date } = changelog.releases.at(-1)!;
  return { version, date };
}

/** The newest `synup changelog update` copy in `cacheDir`, if any. */
function newestUpdate(cacheDir: string): { file: string; version: string } | null {
  const versions = (existsSync(cacheDir) ? readdirSync(cacheDir) : []).flatMap((name) => UPDATE_FILE.exec(name)?.[1] ?? []);
  const version = versions.sort(compareVersions).at(-1);
  return version ? { file: updateFile(cacheDir, version), version } : null;
}

/**
 * The built-in snapshot, or the newest fetched copy when it is newer. When `to` is newer than both: a clear
 * refusal that says how to get a newer changelog.
 */
export function loadDefaultChangelog(cacheDir: string, to?: string): Changelog {
  const builtin = parseChangelog(readChangelogFile(BUILTIN_CHANGELOG), { source: 'built-in', format: 'rst' });
  const update = newestUpdate(cacheDir);
  const changelog =
    update && compareVersions(update.version, newestRelease(builtin).version) > 0
      ? { ...parseChangelog(readChangelogFile(update.file), { source: update.file, format: 'rst' as const }), cachedFile: update.file }
      : builtin;
  const label = changelog === builtin ? "built-in snapshot of Synapse's CHANGELOG.rst" : `Synapse's CHANGELOG.rst fetched at v${update!.version} (${update!.file})`;
  const newest = newestRelease(changelog);
  if (to && compareVersions(normalizeVersion(to, '--to'), newest.version) > 0) {
    throw usageError(
      `--to ${to} is newer than the ${label}, whose newest entry is ${newest.version}${newest.date ? ` (${newest.date})` : ''}`,
      `fetch the changelog of that release with \`synup changelog update --to ${to}\`, or pass one with --changelog <CHANGELOG.rst|url>`,
    );
  }
  return { ...changelog, source: label };
}

export interface UpdateOptions {
  /** `<state dir>/changelogs`. */
  cacheDir: string;
  baseUrl?: string;
  timeoutMs?: number;
}

/**
 * Fetches Synapse's CHANGELOG.rst at tag v<version> into `cacheDir` (written only once it parses and its newest
 * entry is that version), so later plans use it by default. Returns the changelog and the file.
 */
export async function updateChangelog(version: string, options: UpdateOptions): Promise<{ changelog: Changelog; file: string; url: string; requested: string }> {
  const wanted = normalizeVersion(version, '--to');
  const base = (options.baseUrl ?? DEFAULT_CHANGELOG_BASE_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//i.test(base)) throw usageError(`--base-url ${JSON.stringify(options.baseUrl)} is not an http(s) URL`);
  const requested = `${base}/v${wanted}/CHANGELOG.rst`;
  const { text, url } = await fetchText(requested, options.timeoutMs ?? 30_000);
  const changelog = parseChangelog(text, { source: url, format: 'rst' });
  const newest = newestRelease(changelog).version;
  if (newest !== wanted) {
    throw new SynupError('failed', `${url} is not the changelog of Synapse ${wanted}: its newest entry is ${newest}`, {
      hint: 'check the version (Synapse tags releases v<version>) and --base-url',
    });
  }
  ensurePrivateDir(options.cacheDir);
  const file = updateFile(options.cacheDir, wanted);
  writeFileAtomic(file, text, 0o644);
  return { changelog, file, url, requested };
}
