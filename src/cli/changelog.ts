import { newestRelease, updateChangelog } from '../changelog/index.js';
import { changelogCacheDir } from '../changelog/source.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';

interface ChangelogUpdateFlags {
  to: string;
  baseUrl?: string;
}

/** `synup changelog update --to X`: Synapse's CHANGELOG.rst at tag vX into the state dir; later plans use it. */
export async function runChangelogUpdate(ctx: CommandContext, _args: string[], flags: ChangelogUpdateFlags): Promise<number> {
  const baseUrl = flags.baseUrl ?? ctx.env.SYNUP_CHANGELOG_BASE_URL;
  const { changelog, file, url } = await updateChangelog(flags.to, { cacheDir: changelogCacheDir(ctx), baseUrl });
  const newest = newestRelease(changelog);
  if (ctx.out.json) emitJson(ctx.out, { url, file, newest, releases: changelog.releases.length });
  else say(ctx.out, `Fetched ${url}: ${changelog.releases.length} releases, newest ${newest.version}${newest.date ? ` (${newest.date})` : ''}; saved as ${file}`);
  return 0;
}
