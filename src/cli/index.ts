import { Command, CommanderError, Option } from 'commander';
import { ExitCode, usageError } from '../errors.js';
import { createContext, type CommandContext } from '../config/context.js';
import { createOutput, emitJson, reportError, type OutputOptions } from '../ui/output.js';
import { PREFLIGHT_CHECKS } from '../runner/steps/preflight.js';
import { SYNUP_VERSION } from '../version.js';
import { processEnv } from '../config/environment.js';
import { pickSettingFlags } from '../config/settings.js';
import { DEFAULT_PARALLEL_LANES } from '../deploy/defaults.js';

export interface MainOptions extends Pick<OutputOptions, 'stdout' | 'stderr'> {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

interface GlobalFlags {
  json?: boolean;
  config?: string;
  color?: boolean;
  verbose?: number;
}

// Each command types its own flags; commander hands them over untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Action = (ctx: CommandContext, args: string[], options: any) => Promise<number | void>;

/** The commands that operate the service, all in ./service.js. */
const SERVICE_COMMANDS = ['start', 'stop', 'restart', 'adopt', 'logs'];

/**
 * A command's module, loaded only when it runs (`synup plan` never loads the LMDB engine): `x y` (or `x-y`) runs `runXY` from
 * ./x.js (./x-y.js), the service commands theirs from ./service.js.
 */
async function loadCommand(name: string): Promise<Action> {
  const file = SERVICE_COMMANDS.includes(name) ? 'service' : name.split(' ')[0]!;
  const run = 'run' + name.split(/[ -]/).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  const action = ((await import(/* @vite-ignore */ `./${file}.js`)) as Record<string, unknown>)[run];
  if (typeof action !== 'function') throw new Error(`command ${name}: ./${file}.js has no ${run}`);
  return action as Action;
}

const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];
export const positiveInt = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${name} must be a whole number ≥ 1, received ${JSON.stringify(value)}`);
  return n;
};

const positiveIntOrZero = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw usageError(`${name} must be a whole number ≥ 0, received ${JSON.stringify(value)}`);
  return n;
};

function declare(program: Command, run: (name: string, args: string[], options: Record<string, unknown>) => Promise<void>): void {
  const on = (name: string) => (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    return run(name, cmd.args, cmd.opts());
  };

  program
    .command('plan')
    .description('show what an upgrade will do: migrations between two versions, checks, steps')
    .option('--from <version>', 'current version (default: read from the cell dir)')
    .requiredOption('--to <version>', 'target version')
    .option('--changelog <file|url>', 'Synapse CHANGELOG.rst or Markdown changelog (default: changelog from synup.yaml); a URL is fetched once and cached')
    .option('--dir <cell dir>', 'cell storage dir: its version, data size, rehearsals (default without --from: cell.dir from synup.yaml)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'md', 'html']).default('text'))
    .option('-o, --output <file>', 'write the rendered plan to a file instead of stdout')
    .option('--impact', "also what the upgrade touches in this cell (as `synup check`); the first boot's estimate then comes from its node counts")
    .addOption(new Option('--defrag <mode>', 'cold: compact the stopped cell; online: swap in a compacted shadow mirror that followed the running cell (default: upgrade.defrag, cold)').choices(['cold', 'online']))
    .action(on('plan'));

  program
    .command('check')
    .description("what an upgrade to --to touches in this cell: nodes of deprecated/changed forms, stored Storm and config using deprecated names, migration time")
    .requiredOption('--to <version>', 'target version')
    .option('--changelog <file|url>', 'Synapse changelog')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('--offline', "read the cell's LMDB files (form counts, cell.yaml), not the running Cortex")
    .option('--backup <dir>', 'read a backup of the cell offline instead')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'md']).default('text'))
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option('--require-clean', 'exit 3 while stored Storm, configuration or packages use deprecated names')
    .action(on('check'));

  program
    .command('inspect')
    .description('LMDB environments of a cell: sizes, free pages, fragmentation, sub-databases')
    .argument('<dir>', 'cell storage dir')
    .option('--skip-dirs <glob>', 'skip dirs matching glob (repeatable; tmp/ and backups/ always)', collect)
    .action(on('inspect'));

  program
    .command('backup')
    .description('compacted, checksummed, verified backup with a manifest')
    .argument('[dir]', 'cell storage dir (default: cell.dir from synup.yaml)')
    .argument('[dst]', 'backup dir (default: <backup.dir>/<name>_<YYYYmmddHHMMSS>, UTC)')
    .option('--cold', 'the service is stopped: refuse if anything holds the envs')
    .addOption(new Option('--engine <engine>', 'compact-copy engine (default: backup.engine, auto)').choices(['auto', 'mdb_copy', 'builtin', 'lmdb-js', 'synapse']))
    .option('--jobs <n>', 'envs copied in parallel (default: cores)', positiveInt('--jobs'))
    .option('--skip-dirs <glob>', 'skip dirs matching glob (repeatable; tmp/ and backups/ always)', collect)
    .option('--no-verify', 'skip the verification pass (the backup is then marked unverified)')
    .action(on('backup'));

  program
    .command('verify')
    .description('re-open and walk every LMDB env of a backup, compare with its manifest')
    .argument('<backup>', 'backup dir')
    .option('--against <dir>', 'also compare with a stopped cell dir')
    .option('--cell <dir>', 'require the backup to belong to this cell (cell.guid)')
    .action(on('verify'));

  program
    .command('restore')
    .description('restore a verified backup into a dir')
    .argument('<backup>', 'backup dir')
    .argument('<dir>', 'target dir')
    .option('--replace', 'move a non-empty target aside (never deleted) and restore in its place')
    .action(on('restore'));

  program
    .command('upgrade')
    .description('the guided upgrade: backup gate, (shadow mirror,) probes off, stop, defrag, start, migrations, confirm')
    .requiredOption('--to <version>', 'target version')
    .option('--changelog <file|url>', 'Synapse changelog')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('--backup', 'make a fresh verified backup now (live, before any downtime)')
    .option('--dry-run', 'print the steps and change nothing')
    .option('-y, --yes', 'do not ask for confirmation (required without a TTY)')
    .option('--force', 'take over a stale lock left by a dead run')
    .option('--ignore-preflight <checks>', `skip named preflight checks (comma-separated or repeated): ${PREFLIGHT_CHECKS.join(', ')}`, collect)
    .option('--require-rehearsal', 'refuse unless a passing rehearsal of the same from → to on a backup of this cell exists')
    .option('--require-clean-impact', 'refuse (preflight check clean-impact) while stored Storm, configuration or packages use what the upgrade deprecates (see `synup check`)')
    .addOption(new Option('--defrag <mode>', 'cold: compact the stopped cell; online: swap in a compacted shadow mirror that followed the running cell (default: upgrade.defrag, cold)').choices(['cold', 'online']))
    .action(on('upgrade'));

  program
    .command('resume')
    .description('after synup was interrupted: finish the run or roll it back')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--force', 'take over a stale lock left by a dead run')
    .action(on('resume'));

  program
    .command('rollback')
    .description('put the pre-upgrade data and version back')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('--run <id>', 'which run (default: the newest)')
    .option('--force', 'also after a successful upgrade (writes since then are lost)')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(on('rollback'));

  program
    .command('status')
    .description('the configured cell: running or not, version, active, adapter, last run')
    .action(on('status'));

  const serviceCommands: [name: string, description: string][] = [
    ['start', 'start the service at the version its data was last written by; wait until healthy'],
    ['stop', 'stop the service (graceful, forced after service.stopTimeout) until nothing holds its files'],
    ['restart', 'stop, then start the version in the data and wait until healthy'],
    ['adopt', "take over a running service synup did not start (process adapter: the holder of cell.guid's lock)"],
  ];
  for (const [name, description] of serviceCommands) {
    program.command(name).description(description).option('--dir <cell dir>', 'cell storage dir (default: cell.dir)').action(on(name));
  }

  program
    .command('logs')
    .description('the service log: the last lines, then new ones with --follow')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('-n, --lines <n>', 'how many of the last lines', positiveIntOrZero('--lines'), 100)
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .action(on('logs'));

  program
    .command('history')
    .description('past runs: from/to, outcome, downtime, step durations, bytes reclaimed')
    .option('--dir <cell dir>', 'only runs of this cell')
    .action(on('history'));

  program
    .command('prune')
    .description('remove dirs synup created and marked (pre-upgrade copies, failed dirs, staging) older than --older-than, and backups a killed `synup backup` left unfinished')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('--older-than <duration>', 'e.g. 7d', '7d')
    .option('--dry-run', 'list what would be removed')
    .action(on('prune'));

  program
    .command('rehearse')
    .description('CI: restore a backup into scratch, boot the target version on it, wait out its migrations, report')
    .requiredOption('--backup <dir>', 'backup dir (its manifest gives the cell and the current version)')
    .requiredOption('--to <version>', 'target version')
    .option('--changelog <file|url>', 'Synapse changelog')
    .option('--port <n>', 'HTTPS port for the scratch service (default: health.port + 1)', positiveInt('--port'))
    .option('--report <file>', 'write a JUnit XML report (each step a testcase)')
    .option('--summary <file>', 'write a Markdown summary')
    .action(on('rehearse'));

  program
    .command('doctor')
    .description('host checks from the devops guide: sysctls, filesystem, disk, free space, lmdb-utils, clock')
    .option('--dir <cell dir>', 'cell storage dir (default: cell.dir)')
    .option('--root <dir>', 'read /proc and /sys under this root (for tests and containers)')
    .action(on('doctor'));

  declareDeploy(program, on);

  program
    .command('volume-job', { hidden: true })
    .description('internal: run inside a Kubernetes Job on the cell volume (SYNUP_CELL_DIR, SYNUP_BACKUP_DIR); one JSON result line')
    .argument('<op>', 'cell-info | backup | backup-gate | defrag | undo-defrag')
    .option('--run <id>', 'run id (defrag, undo-defrag)')
    .option('--max-age <duration>', 'backup-gate: newest usable backup younger than this', '24h')
    .addOption(new Option('--engine <engine>', 'compact-copy engine').choices(['auto', 'mdb_copy', 'builtin', 'lmdb-js', 'synapse']))
    .action(on('volume-job'));

  program
    .command('changelog')
    .description("Synapse's changelog: plans use a built-in snapshot, or a newer one fetched with `update`")
    .command('update')
    .description("fetch Synapse's CHANGELOG.rst at tag v<version> into the state dir; later plans use it by default")
    .requiredOption('--to <version>', 'the Synapse release whose changelog to fetch (e.g. the upgrade target)')
    .option('--base-url <url>', 'where tags are served: <url>/v<version>/CHANGELOG.rst (default: SYNUP_CHANGELOG_BASE_URL, else GitHub raw files of vertexproject/synapse)')
    .action(on('changelog update'));
}

/** `synup deploy …`: a whole deployment (deployment.yaml), in the devops guide's order, mirrors first. */
function declareDeploy(program: Command, on: (name: string) => (...params: unknown[]) => Promise<void>): void {
  const deploy = program.command('deploy').description('a whole deployment (AHA, Axon, JsonStor, Cortex and its mirrors…): plan, upgrade in order, resume');
  const file = ['-f, --file <deployment.yaml>', 'the deployment file', 'deployment.yaml'] as const;
  deploy
    .command('plan')
    .description('the order, migrations, steps and client-visible downtime of every service')
    .option(...file)
    .option('--to <version>', 'target version (default: to: in the deployment file)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'md', 'html']).default('text'))
    .option('-o, --output <file>', 'write the rendered plan to a file instead of stdout')
    .option('--impact', "also what the upgrade touches in each Cortex (as `synup check`); first-boot estimates from its node counts")
    .action(on('deploy plan'));
  const runs = [
    ['upgrade', 'upgrade every service in order: mirrors first, promote, old leader as a mirror; stop at the first failure'],
    ['resume', 'go on with the deployment run that stopped (after a failure was fixed, or synup was killed)'],
  ] as const;
  for (const [name, description] of runs) {
    const run = deploy.command(name).description(description).option(...file);
    if (name === 'upgrade') run.option('--to <version>', 'target version (default: to: in the deployment file)');
    run
      .option('--backup', 'make a fresh verified backup of each service now (live, before its downtime)')
      .option('--parallel <n>', `independent lanes of one tier run at once (default ${DEFAULT_PARALLEL_LANES})`, positiveInt('--parallel'))
      .option('-y, --yes', 'do not ask for confirmation (required without a TTY)')
      .action(on(`deploy ${name}`));
  }
  deploy
    .command('rehearse')
    .description("each service's upgrade rehearsed on a scratch copy of its newest verified backup (mirrors: their leader's)")
    .option(...file)
    .option('--to <version>', 'target version (default: to: in the deployment file)')
    .option('--report <file>', 'write a JUnit XML report: one testsuite per service')
    .action(on('deploy rehearse'));
  deploy
    .command('discover')
    .description("AHA's services, their leader/mirror roles and readiness, and a services: fragment for a deployment file")
    .option(...file)
    .option('--aha-url <telepath url>', "ask AHA at this URL (python3 on PATH) instead of the deployment file's aha: section")
    .action(on('deploy discover'));
  deploy
    .command('status')
    .description('the last deployment run: each service\'s version and role, phases done, where it stopped')
    .option(...file)
    .action(on('deploy status'));
}

/** Whether --json was given before any `--` (commander has not parsed yet when it reports a parse error). */
const wantsJson = (argv: string[]) => argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length).includes('--json');

/** Runs the CLI; returns the exit code. Never calls process.exit, so tests can call it directly. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const env = options.env ?? processEnv();
  const cwd = options.cwd ?? process.cwd();
  const stderr = options.stderr ?? process.stderr;
  const json = wantsJson(argv);
  const rawOut = createOutput({ json, stdout: options.stdout, stderr, env });
  // Under --json, commander's own stdout text (help, version) is held back and sent as one JSON document.
  let heldOut = '';
  const program = new Command('synup')
    .description('Safe, guided upgrades of Vertex Synapse services')
    .version(SYNUP_VERSION, '-V, --version')
    .option('--json', 'one JSON document on stdout (NDJSON event lines during a run), errors included; human output stays on stderr')
    .option('-c, --config <file>', 'config file (default: $SYNUP_CONFIG, else ./synup.yaml, else /etc/synup/synup.yaml)')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('-v, --verbose', 'more detail (repeatable)', (_: string, n: number) => n + 1, 0)
    .showHelpAfterError('  fix: see `synup --help` or `synup <command> --help`')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => (json ? (heldOut += s) : rawOut.stdout.write(s)),
      writeErr: (s) => stderr.write(s),
      // Parse errors read like every other synup error: one `synup: …` line, then the fix.
      outputError: (s, write) => write(`synup: ${s.replace(/^error: /, '').replace(/\n(?=.)/g, ' ')}`),
    });

  let exitCode = 0;
  declare(program, async (name, args, cmdOptions) => {
    const flags = program.opts<GlobalFlags>();
    const out = createOutput({ json: flags.json, color: flags.color, verbose: flags.verbose, stdout: options.stdout, stderr, env });
    try {
      const ctx = createContext(out, cwd, env, flags.config, pickSettingFlags(cmdOptions));
      const action = await loadCommand(name);
      exitCode = (await action(ctx, args, cmdOptions)) ?? 0;
    } catch (error) {
      exitCode = reportError(out, error);
    }
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.version') {
        if (json) emitJson(rawOut, { version: SYNUP_VERSION });
        return 0;
      }
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') {
        if (json) emitJson(rawOut, { help: heldOut });
        return 0;
      }
      // commander has already printed its message (and the usage) on stderr; under --json the error is also the document.
      if (json) emitJson(rawOut, { ok: false, error: { code: 'usage', message: error.message.replace(/^error: /, '').replace(/\n/g, ' ') } });
      return ExitCode.usage;
    }
    return reportError(rawOut, error);
  }
  return exitCode;
}
