import path from 'node:path';
import { loadChangelog, type Changelog } from '../changelog/index.js';
import { defaultStateDir } from '../config/schema.js';
import { usageError } from '../errors.js';
import type { CommandContext } from './context.js';

/** --changelog, else `changelog:` in synup.yaml, else a clear error. URLs are cached in the state dir. */
export function loadChangelogFor(ctx: CommandContext, flag: string | undefined): Promise<Changelog> {
  const { config } = ctx.config();
  const spec = flag ?? config.changelog;
  if (!spec) {
    throw usageError('no changelog given', 'pass --changelog <CHANGELOG.rst|url> or set `changelog:` in synup.yaml (the Synapse repo\'s CHANGELOG.rst)');
  }
  return loadChangelog(spec, { cacheDir: path.join(config.state.dir ?? defaultStateDir(ctx.env), 'changelogs'), cwd: ctx.cwd });
}
