import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitUntil } from '../poll.js';
import type { SynupConfig } from '../config/schema.js';
import { refusal, SynupError, usageError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../fsutil.js';
import { PROBES_REQUIRED, type AdapterPlanText, type LogMark, type LogOptions, type SavedProbes, type StampedLine, type ServiceAdapter, type ServiceStatus, type StopOptions, type StopResult, type TailOptions } from './adapter.js';
import { adapterSection, resolvePath, type AdapterContext } from './context.js';
import { readEnvVariable, writeEnvVariable } from './env-file.js';
import { waitUntilReleased } from './released.js';
import { journalLine, markOf } from './log-stamp.js';
import { earliest, followTool, runTool } from './tool.js';
import { assertVersion } from './version.js';

/** service.systemd with every default applied. */
export interface SystemdSettings {
  /** Full unit name (".service" added when no type suffix is given). */
  unit: string;
  user: boolean;
  environmentFile: string | null;
  versionVariable: string;
  /** synup's own drop-in, `<dropInDir>/synup-upgrade.conf`. */
  dropInFile: string;
  env: NodeJS.ProcessEnv;
  /** After `systemctl kill --signal=SIGKILL`, how long the unit may take to become inactive. */
  killWaitMs: number;
  releaseWaitMs: number;
}

const UNIT_TYPES = /\.(service|socket|target|scope|slice|mount|timer|path)$/;

export function systemdSettings(config: SynupConfig, ctx: AdapterContext): SystemdSettings {
  const own = adapterSection(config, 'systemd', 'service.systemd.unit (e.g. synapse-cortex.service)');
  const unit = UNIT_TYPES.test(own.unit) ? own.unit : `${own.unit}.service`;
  const unitDir = own.user ? path.join(ctx.env.XDG_CONFIG_HOME || path.join(ctx.env.HOME || os.homedir(), '.config'), 'systemd', 'user') : '/etc/systemd/system';
  const dropInDir = own.dropInDir ? resolvePath(ctx, own.dropInDir) : path.join(unitDir, `${unit}.d`);
  return {
    unit,
    user: own.user,
    environmentFile: own.environmentFile ? resolvePath(ctx, own.environmentFile) : null,
    versionVariable: own.versionVariable,
    dropInFile: path.join(dropInDir, 'synup-upgrade.conf'),
    env: ctx.env,
    killWaitMs: 30_000,
    releaseWaitMs: 5_000,
  };
}

/** First line of synup's drop-in: only a file starting with it is ever removed. */
export const DROP_IN_MARKER = '# synup-upgrade: written by synup while an upgrade runs; synup removes it when the upgrade ends';
const DROP_IN = `${DROP_IN_MARKER}\n[Service]\nTimeoutStartSec=infinity\nWatchdogSec=0\n`;

/** ActiveState values of a unit whose processes may still hold the cell. */
const RUNNING_STATES = new Set(['active', 'activating', 'deactivating', 'reloading', 'refreshing']);

/** A systemd unit: version through an EnvironmentFile, start/stop timeouts lifted by a drop-in during the upgrade. */
export class SystemdAdapter implements ServiceAdapter {
  readonly name = 'systemd' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: (required) =>
      `Save the unit's TimeoutStartUSec and WatchdogUSec in the journal and lift them for the first boot${required ? PROBES_REQUIRED : ''}: synup's drop-in sets TimeoutStartSec=infinity and WatchdogSec=0 (systemctl daemon-reload).`,
    probesOn: "synup's drop-in is removed (systemctl daemon-reload): the unit's own TimeoutStartSec and WatchdogSec apply again.",
    stop: (deadline) => `systemctl stop of the unit${deadline ? `, killed after ${deadline}` : ''}`,
    start: (version) => `set the unit's version variable to ${version} and start the unit`,
  };
  readonly plan = SystemdAdapter.plan;
  private lastStart: Date | undefined;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly settings: SystemdSettings,
  ) {}

  private systemctl(...args: string[]): string[] {
    return ['systemctl', ...(this.settings.user ? ['--user'] : []), ...args];
  }

  private run(argv: string[], okExitCodes?: number[]) {
    return runTool(argv, { env: this.settings.env, okExitCodes });
  }

  private async show(properties: string[]): Promise<Record<string, string>> {
    const { stdout } = await this.run(this.systemctl('show', this.settings.unit, `--property=${properties.join(',')}`));
    const values: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return values;
  }

  private configuredVersion(): string | null {
    return this.settings.environmentFile ? readEnvVariable(this.settings.environmentFile, this.settings.versionVariable) : null;
  }

  async status(): Promise<ServiceStatus> {
    const unit = await this.show(['LoadState', 'ActiveState', 'SubState', 'MainPID', 'InvocationID', 'NRestarts']);
    if (unit.LoadState === 'not-found') {
      throw usageError(`systemd unit ${this.settings.unit} not found${this.settings.user ? ' (user manager)' : ''}`, 'fix service.systemd.unit (and service.systemd.user) in synup.yaml');
    }
    const pid = Number(unit.MainPID);
    return {
      running: RUNNING_STATES.has(unit.ActiveState ?? ''),
      configuredVersion: this.configuredVersion(),
      pid: pid > 0 ? pid : undefined,
      detail: `${this.settings.unit} ${unit.ActiveState ?? '?'} (${unit.SubState ?? '?'})`,
      // Restart= starts a new invocation behind synup's back (issue 20)
      ...(unit.InvocationID ? { instance: `invocation ${unit.InvocationID} restarts ${unit.NRestarts || '0'}` } : {}),
    };
  }

  async start(version: string): Promise<void> {
    assertVersion(version);
    if (!this.settings.environmentFile) {
      throw usageError('service.systemd.environmentFile is not set: synup cannot switch the unit to another version', `point it at the unit's EnvironmentFile=, which sets ${this.settings.versionVariable}`);
    }
    const status = await this.status();
    if (status.running) throw refusal(`${status.detail}: already running`, 'stop it first; the new version would not be picked up by a running unit');
    writeEnvVariable(this.settings.environmentFile, this.settings.versionVariable, version);
    // A crash loop under Restart= (the new version failing on boot) uses up the unit's start limit (StartLimitBurst,
    // default 5 starts in 10 s): systemd then refuses the next start ("Start request repeated too quickly") while
    // `start --no-block` exits 0, so the rollback's start of the old version would wait out startTimeout and fail.
    // reset-failed clears the failed state and the counter; on a unit systemd has unloaded (inactive, nothing to
    // clear) it exits 1 "not loaded" (systemd 252, test/containers/systemd-cortex.test.ts).
    await this.run(this.systemctl('reset-failed', this.settings.unit), [1]);
    this.lastStart = new Date();
    await this.run(this.systemctl('start', '--no-block', this.settings.unit));
  }

  /**
   * The unit synup started here has ended: failed or inactive (its process exited), or its process exited and systemd
   * is restarting it (`auto-restart`: Restart=), so a health wait ends at once instead of waiting out its deadline.
   */
  async startedInstanceProblem(check: 'exited' | 'holder'): Promise<string | null> {
    if (check !== 'exited' || this.lastStart === undefined) return null;
    const unit = await this.show(['ActiveState', 'SubState', 'Result']);
    const state = `${unit.ActiveState ?? '?'} (${unit.SubState ?? '?'}${unit.Result && unit.Result !== 'success' ? `, result ${unit.Result}` : ''})`;
    if (unit.SubState === 'auto-restart') return `${this.settings.unit} that synup started exited and systemd is restarting it (Restart=): ${state}`;
    if (!RUNNING_STATES.has(unit.ActiveState ?? '')) return `${this.settings.unit} that synup started is ${state}`;
    return null;
  }

  private waitInactive(timeoutMs: number): Promise<boolean> {
    const inactive = async () => !RUNNING_STATES.has((await this.run(this.systemctl('is-active', this.settings.unit), [1, 2, 3, 4])).stdout.trim());
    return waitUntil(inactive, timeoutMs, { firstMs: 50, maxMs: 500 });
  }


  async stop(options: StopOptions): Promise<StopResult> {
    const started = Date.now();
    let forced = false;
    if ((await this.status()).running) {
      await this.run(this.systemctl('stop', '--no-block', this.settings.unit));
      if (!(await this.waitInactive(options.timeoutMs))) {
        forced = true;
        await this.run(this.systemctl('kill', '--signal=SIGKILL', this.settings.unit));
        if (!(await this.waitInactive(this.settings.killWaitMs))) {
          throw new SynupError('failed', `${this.settings.unit} is still active ${this.settings.killWaitMs} ms after SIGKILL`, { hint: `check \`systemctl status ${this.settings.unit}\`` });
        }
      }
    }
    await waitUntilReleased(this.ctx.cellDir, this.settings.releaseWaitMs);
    return { forced, durationMs: Date.now() - started };
  }

  private ownsDropIn(file: string): boolean {
    if (!existsSync(file)) return false;
    if (readFileSync(file, 'utf8').startsWith(DROP_IN_MARKER)) return true;
    throw refusal(`${file} exists but was not written by synup; leaving it alone`, 'rename or remove it yourself, or set service.systemd.dropInDir');
  }

  async disableProbes(): Promise<SavedProbes> {
    const file = this.settings.dropInFile;
    const original = await this.show(['TimeoutStartUSec', 'WatchdogUSec']);
    const createdDir = !existsSync(path.dirname(file));
    if (!this.ownsDropIn(file)) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomic(file, DROP_IN, 0o644);
    }
    await this.run(this.systemctl('daemon-reload'));
    return { dropIn: file, createdDir, original };
  }

  async restoreProbes(saved: SavedProbes): Promise<void> {
    const file = typeof saved.dropIn === 'string' ? saved.dropIn : this.settings.dropInFile;
    if (this.ownsDropIn(file)) {
      unlinkSync(file);
      fsyncDir(path.dirname(file));
      if (saved.createdDir === true && readdirSync(path.dirname(file)).length === 0) rmdirSync(path.dirname(file));
    }
    await this.run(this.systemctl('daemon-reload'));
  }

  logs(options: LogOptions): AsyncIterable<string> {
    return followTool(this.journalctl(options.since), { env: this.settings.env, signal: options.signal });
  }

  /** `journalctl -o json`: each entry's MESSAGE with journald's own `__REALTIME_TIMESTAMP`. */
  async *stampedLogs(options: LogOptions): AsyncGenerator<StampedLine> {
    for await (const line of followTool(this.journalctl(options.since, 'json'), { env: this.settings.env, signal: options.signal })) {
      const entry = journalLine(line);
      if (entry) yield entry;
    }
  }

  async logMark(since: Date | undefined): Promise<LogMark | null> {
    const argv = this.journalctl(since, 'json').filter((arg) => arg !== '-f');
    const { stdout } = await this.run([...argv, '--no-pager']);
    return markOf(stdout.split('\n').map(journalLine).filter((l): l is StampedLine => l !== null));
  }

  tail(options: TailOptions): AsyncIterable<string> {
    const argv = ['journalctl', ...(this.settings.user ? ['--user'] : []), '-u', this.settings.unit, '-n', String(options.lines), ...(options.follow ? ['-f'] : []), '-o', 'cat', '--no-pager'];
    return followTool(argv, { env: this.settings.env, signal: options.signal });
  }

  /** From the earlier of the caller's `since` and this adapter's own last start (nothing of a boot is missed). */
  private journalctl(since: Date | undefined, output: 'cat' | 'json' = 'cat'): string[] {
    const from = earliest(since, this.lastStart);
    return [
      'journalctl',
      ...(this.settings.user ? ['--user'] : []),
      '-u',
      this.settings.unit,
      '-f',
      '-o',
      output,
      ...(from ? [`--since=@${Math.floor(from.getTime() / 1000)}`] : []),
    ];
  }

  get cellUrl(): string {
    return `cell://${this.ctx.cellDir}/`;
  }

  async execArgv(argv: string[]): Promise<string[]> {
    return argv;
  }

  describe(action: 'stop' | 'start' | 'disable-probes' | 'restore-probes' | 'status'): string[][] {
    const unit = this.settings.unit;
    if (action === 'start') return [this.systemctl('reset-failed', unit), this.systemctl('start', '--no-block', unit)];
    if (action === 'stop') return [this.systemctl('stop', '--no-block', unit)];
    if (action === 'status') return [this.systemctl('show', unit, '--property=LoadState,ActiveState,SubState,MainPID,InvocationID,NRestarts')];
    return [this.systemctl('daemon-reload')];
  }
}
