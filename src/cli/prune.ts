import { rm } from 'node:fs/promises';
import { findAbandonedBackups, removeAbandonedBackup } from '../backup/partial.js';
import { parseDuration } from '../units.js';
import { usageError } from '../errors.js';
import { Journal } from '../runner/journal.js';
import { withCellLock } from '../runner/run.js';
import { inodeOf } from '../siblings.js';
import { openCellSession } from '../runner/session.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';

/**
 * Removes only dirs the journal says synup made or renamed for a run that has ended (pre-upgrade copies, failed
 * dirs, stale staging), older than --older-than, and only if the dir at that path is still the same inode; and
 * backups in backup.dir that a killed `synup backup` left without a manifest (marked by src/backup/partial.ts).
 */
export async function runPrune(ctx: CommandContext, _args: string[], flags: { olderThan: string; dryRun?: boolean }): Promise<number> {
  const maxAge = parseDuration(flags.olderThan);
  if (maxAge === null) throw usageError(`--older-than: expected a duration like 7d or 12h, received ${JSON.stringify(flags.olderThan)}`);
  const session = openCellSession(ctx.config());
  const removed: string[] = [];
  const kept: { path: string; reason: string }[] = [];
  const prune = async () => {
    // Backups whose writer was killed before their manifest: marked as synup's own, useless, never a whole backup.
    if (session.config.backup.dir) {
      for (const partial of findAbandonedBackups(session.config.backup.dir)) {
        if (!flags.dryRun) await removeAbandonedBackup(partial);
        removed.push(partial.complete ? partial.marker : partial.dir);
      }
    }
    if (!Journal.exists(session.stateDir)) return;
    const journal = Journal.open(session.stateDir);
    try {
      for (const run of journal.list({ cellDir: session.cellDir })) {
        const ended = run.outcome === 'done' || run.outcome === 'rolled-back' || run.outcome === 'failed';
        for (const owned of run.owned) {
          const age = Date.now() - Date.parse(owned.createdAt);
          const ino = inodeOf(owned.path);
          if (ino === null) continue;
          if (!ended) kept.push({ path: owned.path, reason: `run ${run.id} has not ended (${run.outcome})` });
          else if (ino !== owned.ino) kept.push({ path: owned.path, reason: 'not the dir synup recorded (inode differs)' });
          else if (age < maxAge) kept.push({ path: owned.path, reason: `younger than ${flags.olderThan}` });
          else {
            if (!flags.dryRun) {
              await rm(owned.path, { recursive: true, force: true });
              journal.update(run.id, (r) => {
                r.owned = r.owned.filter((o) => o.path !== owned.path);
              });
            }
            removed.push(owned.path);
          }
        }
      }
    } finally {
      await journal.close();
    }
  };
  // A dry run changes nothing, so it takes no lock (and works while a run holds it). Without a journal synup made
  // nothing beside this cell: no lock either, so no state dir is created.
  await (flags.dryRun || !Journal.exists(session.stateDir) ? prune() : withCellLock(session, { runId: 'prune', command: 'prune' }, prune));
  return reportPrune(ctx, flags, removed, kept);
}

function reportPrune(ctx: CommandContext, flags: { olderThan: string; dryRun?: boolean }, removed: string[], kept: { path: string; reason: string }[]): number {
  if (ctx.out.json) emitJson(ctx.out, { dryRun: Boolean(flags.dryRun), removed, kept });
  for (const p of removed) say(ctx.out, `${flags.dryRun ? 'would remove' : 'removed'} ${p}`);
  for (const k of kept) say(ctx.out, `kept ${k.path}: ${k.reason}`);
  if (removed.length === 0 && kept.length === 0) say(ctx.out, 'Nothing synup made is left to prune.');
  return 0;
}
