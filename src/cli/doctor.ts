import { existsSync } from 'node:fs';
import path from 'node:path';
import { usageError } from '../errors.js';
import { ntpCheck, runHostChecks } from '../doctor/checks.js';
import { estimateCompactedBytes } from '../runner/estimate.js';
import { resolveCellDir } from '../config/cell-dir.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, paint, say, table } from '../ui/output.js';

interface DoctorFlags {
  root?: string;
}

/** Host checks from the devops guide: sysctls (current vs recommended), filesystem, disk, free space, tools, clock, NTP. */
export async function runDoctor(ctx: CommandContext, _args: string[], flags: DoctorFlags): Promise<number> {
  const { config } = ctx.config();
  const root = path.resolve(ctx.cwd, flags.root ?? '/');
  if (!existsSync(path.join(root, 'proc', 'sys'))) {
    throw usageError(`--root ${root} has no proc/sys: doctor reads the host's sysctls and mounts from <root>/proc and <root>/sys`, 'drop --root on a normal host, or point it at a tree that holds proc/ and sys/');
  }
  const given = config.cell.dir;
  const cellDir = given ? resolveCellDir(given, ctx.cwd) : undefined;
  const checks = [
    ...runHostChecks({
      root,
      dataDir: cellDir ?? ctx.cwd,
      neededBytes: cellDir ? await estimateCompactedBytes(cellDir) : undefined,
      pathEnv: ctx.env.PATH ?? '',
      now: new Date(),
    }),
    await ntpCheck(ctx.env.PATH ?? ''),
  ];
  const failed = checks.filter((c) => c.level === 'fail').length;
  const warned = checks.filter((c) => c.level === 'warn').length;
  if (ctx.out.json) emitJson(ctx.out, { ok: failed === 0, failed, warned, checks });
  say(ctx.out, table(['check', 'status', 'current', 'recommended'], checks.map((c) => [c.name, c.level.toUpperCase(), c.current, c.recommended])));
  for (const c of checks.filter((x) => x.note && x.level !== 'ok')) say(ctx.out, `note ${c.name}: ${c.note}`);
  say(ctx.out, failed ? paint(ctx.out, 'red', `${failed} check(s) failed, ${warned} warning(s)`) : paint(ctx.out, 'green', `OK (${warned} warning(s))`));
  return failed ? 1 : 0;
}
