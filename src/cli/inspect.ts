import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { resolveEngine } from '../backup/engines.js';
import { DEFAULT_SKIP_DIRS } from '../lmdb/discover.js';
import { inspectCell } from '../lmdb/inspect.js';
import { resolveNamedDir } from '../safety/paths.js';
import type { CommandContext } from '../config/context.js';
import { columns, emitJson, paint, say, table } from '../ui/output.js';
import { formatBytes } from '../units.js';

interface InspectFlags {
  skipDirs?: string[];
}

const percent = (ratio: number | undefined) => (ratio === undefined ? '' : `${(ratio * 100).toFixed(1)}%`);

/** LMDB envs of a cell: sizes (file vs on disk), pages, free pages (fragmentation), sub-dbs with flags, depth, entries. */
export async function runInspect(ctx: CommandContext, args: string[], flags: InspectFlags): Promise<number> {
  // Through a symlink to a dir, the dir it names is read.
  const dir = resolveNamedDir(path.resolve(ctx.cwd, args[0]!), 'inspect');
  if (existsSync(dir) && realpathSync(dir) === path.parse(dir).root) {
    throw new SynupError('refused', `refusing to inspect ${dir}: it is the filesystem root, not a cell or backup dir`, { hint: 'pass a cell storage dir (e.g. /data/cortex00) or a backup dir' });
  }
  const { config } = ctx.config();
  const report = await inspectCell(dir, { skipDirs: [...DEFAULT_SKIP_DIRS, ...(flags.skipDirs ?? [])], jobs: config.backup.jobs });
  const compactEngine = await resolveEngine('auto');
  const failed = report.envs.filter((e) => e.error).length;
  if (ctx.out.json) {
    emitJson(ctx.out, { ok: failed === 0, ...report, readWith: report.engine, compactEngine });
    return failed ? 1 : 0;
  }
  const rows = report.envs.map((e) => [
    e.path,
    e.pageSize ? String(e.pageSize) : '',
    e.mapSize ? formatBytes(e.mapSize) : '',
    formatBytes(e.fileBytes),
    formatBytes(e.allocatedBytes),
    e.pages === undefined ? '' : String(e.pages),
    e.freePages === undefined ? '' : `${e.freePages}${e.freePagesExact ? '' : '~'}`,
    percent(e.fragmentation),
    e.compactedBytes === undefined ? '' : formatBytes(e.compactedBytes),
    e.entries === undefined ? paint(ctx.out, 'red', 'unreadable') : String(e.entries),
  ]);
  say(ctx.out, table(['env', 'page', 'map size', 'file', 'on disk', 'pages', 'free', 'frag', 'compacted', 'entries'], rows));
  for (const env of report.envs) {
    if (env.error) {
      say(ctx.out, paint(ctx.out, 'red', `${env.path}: ${env.error}`));
      continue;
    }
    say(ctx.out, `\n${env.path}`);
    const dbRows = (env.dbs ?? []).map((db) => [db.name === '' ? '(main db entries)' : db.name, db.flags.join('|') || '-', `depth ${db.depth}`, String(db.entries), `entries  ${db.pages} pages`]);
    for (const line of columns(dbRows, { indent: '  ', right: [3] })) say(ctx.out, line);
  }
  const t = report.totals;
  say(ctx.out, `\n${t.envs} envs: ${formatBytes(t.fileBytes)} (${formatBytes(t.allocatedBytes)} on disk), ${formatBytes(t.freeBytes)} free, compacted ≈ ${formatBytes(t.compactedBytes)}, ${t.entries} entries`);
  for (const orphan of report.orphans) say(ctx.out, paint(ctx.out, 'yellow', `${orphan}: ends in .lmdb but holds no data.mdb`));
  if (report.skipped.length) say(ctx.out, `skipped: ${report.skipped.join(', ')}`);
  say(ctx.out, `read with ${report.engine === 'native' ? 'the built-in helper (exact free pages)' : 'lmdb-js (free pages estimated: ~)'}; compaction engine (auto): ${compactEngine}`);
  if (failed) say(ctx.out, paint(ctx.out, 'red', `${failed} env(s) could not be read`));
  return failed ? 1 : 0;
}
