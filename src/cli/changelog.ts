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
  const { changelog, file, url, requested } = await updateChangelog(flags.to, { cacheDir: changelogCacheDir(ctx), baseUrl });
  const newest = newestRelease(changelog);
  // The URL really fetched: after redirects (each hop held to the same rule as --base-url), not the one asked for.
  if (ctx.out.json) emitJson(ctx.out, { url, requested, file, newest, releases: changelog.releases.length });
  else say(ctx.out, `Fetched ${url}${url === requested ? '' : ` (redirected from ${requested})`}: ${changelog.releases.length} releases, newest ${newest.version}${newest.date ? ` (${newest.date})` : ''}; saved as ${file}`);
  return 0;
}
