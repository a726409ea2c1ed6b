import path from 'node:path';
import { loadChangelog, loadDefaultChangelog, type Changelog } from './index.js';
import type { CommandContext } from '../config/context.js';

/** `<state dir>/changelogs`: fetched changelogs (URLs, `synup changelog update`). */
export function changelogCacheDir(ctx: CommandContext): string {
  return path.join(ctx.stateDir(), 'changelogs');
}

/**
 * --changelog, else `changelog:` in synup.yaml, else the built-in snapshot of Synapse's CHANGELOG.rst (or a newer
 * copy from `synup changelog update`), which refuses a `to` newer than itself. URLs are cached in the state dir.
 */
export function loadChangelogFor(ctx: CommandContext, to?: string): Promise<Changelog> {
  const spec = ctx.changelog();
  if (!spec) return Promise.resolve(loadDefaultChangelog(changelogCacheDir(ctx), to));
  return loadChangelog(spec, { cacheDir: changelogCacheDir(ctx), cwd: ctx.cwd });
}
