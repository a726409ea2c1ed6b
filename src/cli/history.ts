import { resolveCellDir } from '../config/cell-dir.js';
import { Journal } from '../runner/journal.js';
import { summarizeRun } from '../runner/summary.js';
import type { CommandContext } from '../config/context.js';
import { columns, emitJson, say, table } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

/** The audit trail: every run with from/to, outcome, downtime, step durations and bytes reclaimed. */
export async function runHistory(ctx: CommandContext, _args: string[], flags: { dir?: string }): Promise<number> {
  const { stateDir } = ctx.config();
  const cellDir = flags.dir ? resolveCellDir(flags.dir, ctx.cwd) : undefined;
  let runs: ReturnType<typeof summarizeRun>[] = [];
  if (Journal.exists(stateDir)) {
    const journal = Journal.open(stateDir);
    try {
      runs = journal.list({ cellDir }).map(summarizeRun);
    } finally {
      await journal.close();
    }
  }
  if (ctx.out.json) {
    emitJson(ctx.out, { stateDir, runs });
    return 0;
  }
  if (runs.length === 0) {
    say(ctx.out, `No synup runs recorded in ${stateDir}.`);
    return 0;
  }
  const rows = runs.map((r) => [
    r.id,
    r.cellDir,
    `${r.from} → ${r.to}`,
    r.outcome,
    r.downtimeMs === null ? '' : `${formatDuration(r.downtimeMs)}${r.migratedMs !== null ? ` (migrated ${formatDuration(r.migratedMs)})` : ''}`,
    r.bytesBefore === null || r.bytesAfter === null ? '' : `${formatBytes(r.bytesBefore)} → ${formatBytes(r.bytesAfter)}`,
  ]);
  say(ctx.out, table(['run', 'cell', 'versions', 'outcome', 'downtime', 'defrag'], rows));
  if (ctx.out.verbose > 0) {
    for (const r of runs) {
      say(ctx.out, `\n${r.id}${r.error ? ` — ${r.error}` : ''}`);
      for (const line of columns(r.steps.map((s) => [s.name, s.state, s.durationMs === null ? '' : formatDuration(s.durationMs)]), { indent: '  ' })) say(ctx.out, line);
    }
  }
  return 0;
}
