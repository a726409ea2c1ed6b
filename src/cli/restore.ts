import path from 'node:path';
import { progressPrinter } from '../backup/progress.js';
import { restoreBackup } from '../backup/restore.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, say } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

/** Restores a backup into a dir (copied beside it, verified, renamed into place). */
export async function runRestore(ctx: CommandContext, args: string[], flags: { replace?: boolean }): Promise<number> {
  const { config, stateDir } = ctx.config();
  const progress = progressPrinter(ctx.out);
  const result = await restoreBackup({
    backupDir: path.resolve(ctx.cwd, args[0]!),
    targetDir: path.resolve(ctx.cwd, args[1]!),
    replace: flags.replace ?? false,
    stateDir,
    jobs: config.backup.jobs,
    onProgress: (event) => progress.update(event),
  }).finally(() => progress.done());
  if (ctx.out.json) {
    emitJson(ctx.out, { ok: true, ...result });
    return 0;
  }
  if (result.movedAside) say(ctx.out, `moved the old ${result.targetDir} aside to ${result.movedAside} (kept)`);
  say(ctx.out, `restored ${formatBytes(result.bytes)} into ${result.targetDir} in ${formatDuration(result.durationMs)}; verified: ${result.checked.envs} envs, ${result.checked.entries} entries, ${result.checked.files} files`);
  return 0;
}
