import path from 'node:path';
import { verifyBackup } from '../backup/verify.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, paint, say } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

interface VerifyFlags {
  against?: string;
  cell?: string;
}

/** Re-opens and walks every env of a backup, re-hashes every file, compares with the manifest: `OK` or each problem. */
export async function runVerify(ctx: CommandContext, args: string[], flags: VerifyFlags): Promise<number> {
  const { config } = ctx.config();
  const report = await verifyBackup(path.resolve(ctx.cwd, args[0]!), {
    against: flags.against ? path.resolve(ctx.cwd, flags.against) : undefined,
    cellDir: flags.cell ? path.resolve(ctx.cwd, flags.cell) : undefined,
    jobs: config.backup.jobs,
  });
  if (ctx.out.json) {
    emitJson(ctx.out, report);
    return report.ok ? 0 : 1;
  }
  const c = report.checked;
  say(ctx.out, `${report.backupDir}: ${c.envs} envs, ${c.subDbs} sub-dbs, ${c.entries} entries, ${c.files} files, ${formatBytes(c.bytes)} read in ${formatDuration(report.durationMs)}${report.engine ? ` (${report.engine})` : ''}`);
  for (const problem of report.problems) say(ctx.out, paint(ctx.out, 'red', `${problem.code}: ${problem.message}`));
  say(ctx.out, report.ok ? paint(ctx.out, 'green', 'OK') : paint(ctx.out, 'red', `${report.problems.length} error${report.problems.length === 1 ? '' : 's'} found`));
  if (report.notRecorded) say(ctx.out, `not recorded in the backup: ${report.notRecorded}; the result above stands, but the upgrade's backup gate will not see it`);
  else if (!report.recorded) say(ctx.out, 'nothing recorded: no manifest in that dir');
  return report.ok ? 0 : 1;
}
