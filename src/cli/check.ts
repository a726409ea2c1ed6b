import path from 'node:path';
import { loadChangelogFor } from '../changelog/source.js';
import { normalizeVersion } from '../changelog/index.js';
import type { CommandContext } from '../config/context.js';
import { ExitCode, usageError } from '../errors.js';
import { checkOutputFile, writeOutputFile } from '../fsutil.js';
import { renderImpactMarkdown, renderImpactText } from '../plan/impact-render.js';
import { cellImpact } from '../runner/impact.js';
import { openCellSession } from '../runner/session.js';
import { emitJson, say } from '../ui/output.js';

interface CheckFlags {
  to: string;
  offline?: boolean;
  backup?: string;
  format: 'text' | 'json' | 'md';
  output?: string;
  requireClean?: boolean;
}

/**
 * `synup check --to <version>`: what the changes between the configured cell's version and the target touch in this
 * cell — nodes of deprecated/changed forms and properties, stored Storm using deprecated names, deprecated
 * configuration keys, predicted migration time. Read-only: Storm with `readonly: true`, or the LMDB files offline.
 */
export async function runCheck(ctx: CommandContext, _args: string[], flags: CheckFlags): Promise<number> {
  const to = normalizeVersion(flags.to, '--to');
  if (ctx.out.json && flags.format !== 'text' && flags.format !== 'json') {
    throw usageError(`--json and --format ${flags.format} ask for two different outputs`, `drop --json to get ${flags.format}, or drop --format`);
  }
  const outputFile = flags.output ? path.resolve(ctx.cwd, flags.output) : undefined;
  if (outputFile) checkOutputFile(outputFile, '-o');
  const session = openCellSession(ctx.config());
  const backupDir = flags.backup ? path.resolve(ctx.cwd, flags.backup) : undefined;
  const changelog = await loadChangelogFor(ctx, to);
  const report = await cellImpact(session, { changelog, to, offline: flags.offline, backupDir });

  const format = ctx.out.json ? 'json' : flags.format;
  const rendered = format === 'json' ? JSON.stringify(report, null, ctx.out.json ? undefined : 2) + '\n' : format === 'md' ? renderImpactMarkdown(report) : renderImpactText(report) + '\n';
  if (outputFile) {
    writeOutputFile(outputFile, rendered, '-o');
    say(ctx.out, `Wrote the ${format} impact report ${report.from} → ${report.to} to ${outputFile}`);
    if (ctx.out.json) emitJson(ctx.out, { written: outputFile, format, clean: report.clean });
  } else {
    (format === 'text' ? ctx.out.stderr : ctx.out.stdout).write(rendered);
  }
  if (flags.requireClean && !report.clean) {
    // The report is the one document on stdout; the refusal goes to stderr with exit 3.
    ctx.out.stderr.write(`synup: refused: ${session.cellName} still uses what ${report.from} → ${report.to} deprecates (${report.code.length} in stored Storm, ${report.config.length} configuration keys, ${report.packageKeys.length} package keys)\n  fix: change the Storm and configuration named above, then check again\n`);
    return ExitCode.refused;
  }
  return 0;
}
