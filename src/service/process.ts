import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import type { SynupConfig } from '../config/schema.js';
import { refusal, SynupError, usageError } from '../errors.js';
import { ensurePrivateDir } from '../fsutil.js';
import type { AdapterPlanText, LogOptions, SavedProbes, ServiceAdapter, ServiceStatus, StopOptions, StopResult, TailOptions } from './adapter.js';
import { resolvePath, type AdapterContext } from './context.js';
import { findRunningInstance } from './adopt.js';
import { followFile, lastLines } from './follow-file.js';
import { readPidRecord, writePidRecord, type PidRecord } from './pidfile.js';
import { groupMembers, isAlive, processGroup, processStartTicks, signalProcess } from '../proc.js';
import { serviceHolders, waitUntilReleased } from './released.js';
import { describeHolders } from '../safety/held.js';
import { findHolders } from '../lmdb/holders.js';
import { waitUntil } from '../poll.js';
import { assertVersion } from './version.js';
import { sealedStdio } from './descriptors.js';

/** service.process with every default applied: the one place they live. */
export interface ProcessSettings {
  /** argv template, or null when service.process.command is not set (status still works). */
  command: string[] | null;
  pidFile: string;
  logFile: string;
  /** Environment of the service: a safe base of synup's own (serviceBaseEnv) plus service.process.env. */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** After SIGKILL, how long the process may take to disappear. */
  killWaitMs: number;
  /** After the process is gone, how long its locks may take to drop. */
  releaseWaitMs: number;
  /** After the main process is gone, how long the rest of its group may take to follow before it is SIGKILLed. */
  groupWaitMs: number;
}

export function processSettings(config: SynupConfig, ctx: AdapterContext): ProcessSettings {
  const own = config.service.process;
  return {
    command: own?.command ?? null,
    pidFile: own?.pidFile ? resolvePath(ctx, own.pidFile) : path.join(ctx.stateDir, `${ctx.cellName}.pid`),
    logFile: own?.logFile ? resolvePath(ctx, own.logFile) : path.join(ctx.stateDir, `${ctx.cellName}.log`),
    env: { ...serviceBaseEnv(ctx.env), ...(own?.env ?? {}) },
    cwd: ctx.cwd,
    killWaitMs: 10_000,
    releaseWaitMs: 5_000,
    groupWaitMs: 5_000,
  };
}

/** What a service may inherit from synup's environment: the basics of a login, and Synapse's own settings (SYN_*). */
const BASE_ENV = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|LC_[A-Z]+|TZ|TMPDIR|SYN_\w+|SYNDEV_\w+)$/;

/** synup's environment without its own settings and secrets (SYNUP_HEALTH_PASSWORD…) or anything else not in BASE_ENV. */
function serviceBaseEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => BASE_ENV.test(name)));
}

const PLACEHOLDERS = ['version', 'dir', 'port'] as const;

/** Substitutes `{version}`, `{dir}`, `{port}` in each argv element; an unknown `{name}` is a config error. */
function expandCommand(template: string[], values: Record<(typeof PLACEHOLDERS)[number], string>): string[] {
  return template.map((arg) =>
    arg.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
      if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
        throw usageError(`service.process.command: unknown placeholder ${whole} in ${JSON.stringify(arg)}`, `use ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`);
      }
      return values[name as (typeof PLACEHOLDERS)[number]];
    }),
  );
}

/** The executable argv[0] names (a path, or looked up on the service's PATH), or a usage error before anything starts. */
function findExecutable(file: string, settings: ProcessSettings): string {
  const candidates = file.includes('/') ? [path.resolve(settings.cwd, file)] : (settings.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, file));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  throw usageError(`service.process.command: ${file} is not an executable file${file.includes('/') ? '' : ' on PATH'}`, 'use an absolute path, e.g. /opt/synapse/{version}/bin/python');
}

/** The recorded instance is still running (not marked stopped, pid alive with the same start time). */
const isLive = (record: PidRecord) => !record.stoppedAt && isAlive(record.pid, record.startTicks);

const waitGone = (pid: number, startTicks: number | null, timeoutMs: number) => waitUntil(() => !isAlive(pid, startTicks), timeoutMs);

/**
 * What is left of the group of an instance synup started (detached: pgid = its pid): a Cortex's drive workers and
 * sub-cells outlive a SIGKILLed main process and keep LMDB reader slots. A pgid is not reused while members remain;
 * members started before the instance cannot be its own (a group that took the number after it was empty).
 */
const leftoversOf = (record: PidRecord | null) =>
  record && !record.stoppedAt && (!record.adopted || record.adopted.pgid === record.pid)
    ? groupMembers(record.pid).filter((pid) => record.startTicks === null || (processStartTicks(pid) ?? 0) >= record.startTicks)
    : [];

/** The cell as a bare process synup starts detached, with a pid file and a log file (bare metal, a venv, the sim). */
export class ProcessAdapter implements ServiceAdapter {
  readonly name = 'process' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: () => 'Nothing to disable: a bare process has no probes (synup itself waits for the first boot).',
    probesOn: 'Nothing to put back: a bare process has no probes.',
    stop: (deadline) => `SIGTERM to the process group synup started or adopted (or its pid), SIGKILL after ${deadline ?? 'the deadline'}`,
    start: (version) => `run the configured command with {version} = ${version}`,
  };
  readonly plan = ProcessAdapter.plan;

  /** How each instance this adapter object started ended ("exited with status 1", "was killed by SIGKILL"). */
  private readonly exits = new Map<number, string>();
  /** The instances this adapter object started, settled once each has exited (and its exit is in `exits`). */
  private readonly children = new Map<number, Promise<unknown>>();

  constructor(
    private readonly ctx: AdapterContext,
    private readonly settings: ProcessSettings,
  ) {}

  /** The instance synup started (or adopted), if it is still alive. */
  private liveRecord(): PidRecord | null {
    const record = readPidRecord(this.settings.pidFile);
    return record && isLive(record) ? record : null;
  }

  /** The start argv for `version`; with null, `{version}` stays as is (a runbook for any version). */
  private argv(version: string | null): string[] {
    if (!this.settings.command) {
      throw usageError('service.process.command is not set: synup does not know how to start this cell', "set it in synup.yaml, e.g. command: [python3, -m, synapse.servers.cortex, '{dir}']");
    }
    return expandCommand(this.settings.command, { version: version === null ? '{version}' : assertVersion(version), dir: this.ctx.cellDir, port: String(this.ctx.port) });
  }

  async status(): Promise<ServiceStatus> {
    const record = readPidRecord(this.settings.pidFile);
    const configuredVersion = record?.version ?? null;
    if (record && isLive(record)) {
      const log = record.logFile ? `log ${record.logFile}` : 'its log is not a file synup can read';
      const how = record.adopted ? `adopted at ${record.adopted.at} (started by something else: ${record.adopted.argv.join(' ')})` : `started ${record.version} at ${record.startedAt}`;
      return { running: true, managed: true, pid: record.pid, configuredVersion, detail: `pid ${record.pid} ${how}; ${log}` };
    }
    const holders = await serviceHolders(this.ctx.cellDir);
    if (holders.length > 0) {
      const pid = holders.map((h) => h.pid).find((p) => isAlive(p));
      const how = holders[0]!.kind === 'cell-lock'
        ? `cell.guid is locked (${describeHolders(holders)})`
        : `cell.guid is not locked but held open with the cell's LMDB envs (${describeHolders(holders)}; Synapse drops its lock in a live backup, and until it restarts nothing stops a second instance on this cell)`;
      return { running: true, pid, configuredVersion, detail: `${how} by an instance synup did not start; \`synup adopt\` takes it over (stop, restart and upgrade do so themselves)` };
    }
    const leftoverPids = leftoversOf(record);
    if (record && !record.stoppedAt) {
      const left = leftoverPids.length > 0 ? `; ${leftoverPids.length} process(es) of its group remain (pids ${leftoverPids.join(', ')})` : '';
      return { running: false, configuredVersion, leftoverPids, detail: `${this.describeEnd(record)}${left}` };
    }
    return { running: false, configuredVersion, detail: record ? `stopped at ${record.stoppedAt}` : 'not started by synup' };
  }

  /** "pid 12 (2.181.0) exited with status 1: synapse.exc.BadVersion: …": how an instance synup recorded ended. */
  private describeEnd(record: PidRecord): string {
    const exit = this.exits.get(record.pid);
    const why = exit?.startsWith('was killed') ? '' : this.lastWords(record, exit);
    return `pid ${record.pid} (${record.version ?? 'adopted'}) ${exit ?? 'is gone'}${why ? `: ${why}` : ''}`;
  }

  /**
   * What this instance said last, as the reason it ended: its last line when that is an exception (`synapse.exc.
   * BadVersion: …`, Python's last words), or any last line when it exited with a failure status (a launcher's
   * `run-cortex.sh: … has no synapse/ package`); '' after a clean exit, and otherwise: an earlier line is no
   * explanation (Synapse logs many non-fatal tracebacks).
   */
  private lastWords(record: PidRecord, exit: string | undefined): string {
    // A clean exit (status 0: a launcher that detached something) died of nothing; what follows in the log is not its.
    if (!record.logFile || exit === 'exited with status 0') return '';
    try {
      const size = statSync(record.logFile).size;
      const from = Math.max(record.logOffset, size - 4096);
      if (size <= from) return '';
      const buffer = Buffer.alloc(size - from);
      const fd = openSync(record.logFile, 'r');
      try {
        readSync(fd, buffer, 0, buffer.length, from);
      } finally {
        closeSync(fd);
      }
      const last = buffer.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean).pop();
      if (!last) return '';
      if (/^([A-Za-z_]\w*\.)*[A-Z]\w*: /.test(last)) return last;
      return exit !== undefined && /^exited with status [1-9]/.test(exit) ? last.slice(0, 500) : '';
    } catch {
      return '';
    }
  }

  /**
   * What is wrong with the instance synup last started, or null. 'exited': it is gone (how it ended and its last
   * words; and who holds the cell instead, if anyone). 'holder': also when it runs but another process holds
   * cell.guid (a second instance, another config's service): then the service answering is not the one synup started.
   */
  async startedInstanceProblem(check: 'exited' | 'holder', options: { startedHere?: boolean } = {}): Promise<string | null> {
    const record = readPidRecord(this.settings.pidFile);
    if (!record || record.stoppedAt) return null;
    if (options.startedHere && !this.children.has(record.pid)) return null;
    const alive = isLive(record);
    if (alive && check === 'exited') return null;
    if (!alive) await this.children.get(record.pid)?.catch(() => undefined);
    const holders = await serviceHolders(this.ctx.cellDir).catch(() => []);
    const ours = new Set(this.leadsGroup(record) ? [record.pid, ...groupMembers(record.pid)] : [record.pid]);
    const others = holders.filter((h) => !ours.has(h.pid));
    const instead = others.length > 0 && !holders.some((h) => ours.has(h.pid)) ? `cell.guid is held by ${describeHolders(others)}, which synup did not start` : '';
    if (!alive) return `${this.describeEnd(record).replace(/^pid (\d+) /, `pid $1 that synup started `)}${instead ? `; ${instead}` : ''}`;
    return instead ? `pid ${record.pid} that synup started runs, but ${instead}` : null;
  }

  checkStart(version: string): void {
    findExecutable(this.argv(version)[0]!, this.settings);
  }

  async start(version: string): Promise<void> {
    const argv = this.argv(version);
    findExecutable(argv[0]!, this.settings);
    const running = await this.status();
    if (running.running) {
      throw refusal(`${this.ctx.cellName} is already running: ${running.detail}`, 'stop that instance first; two instances on one cell dir would corrupt it');
    }
    this.prepareDir(this.settings.pidFile);
    this.prepareDir(this.settings.logFile);
    const logOffset = existsSync(this.settings.logFile) ? statSync(this.settings.logFile).size : 0;
    const subprocess = this.spawnDetached(argv);
    const pid = subprocess.pid;
    if (pid === undefined) {
      const result = await subprocess.ended;
      throw new SynupError('failed', `cannot start ${this.ctx.cellName}: ${argv[0]}: ${result.error ?? `exit ${result.code ?? result.signal}`}`, {
        hint: 'check service.process.command (the first element must be an executable, e.g. an absolute path to python3)',
      });
    }
    subprocess.unref();
    this.children.set(
      pid,
      subprocess.ended.then((result) => this.exits.set(pid, result.signal ? `was killed by ${result.signal}` : `exited with status ${result.code}`)),
    );
    try {
      writePidRecord(this.settings.pidFile, {
        pid,
        version,
        startedAt: new Date().toISOString(),
        startTicks: processStartTicks(pid),
        logFile: this.settings.logFile,
        logOffset,
      });
    } catch (error) {
      // Untracked, it would run on as "an instance synup did not start": stopped again before anything else happens.
      signalProcess(pid, 'SIGTERM', true);
      if (!(await waitUntil(() => groupMembers(pid).length === 0, this.settings.killWaitMs))) signalProcess(pid, 'SIGKILL', true);
      await waitUntil(() => groupMembers(pid).length === 0, this.settings.killWaitMs);
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new SynupError('failed', `cannot record ${this.ctx.cellName}'s pid in ${this.settings.pidFile}: ${code}; the ${version} synup had just started (pid ${pid}) was stopped again`, {
        hint: code === 'ENOSPC' ? `free space on the filesystem of ${path.dirname(this.settings.pidFile)} (state.dir), then retry` : `make ${path.dirname(this.settings.pidFile)} writable (state.dir or service.process.pidFile), then retry`,
        cause: error,
      });
    }
  }

  /**
   * Starts argv in its own session (it outlives synup), stdout+stderr appended to the log file, holding none of
   * synup's descriptors (sealedStdio: the journal's data.mdb, which LMDB opens without close-on-exec, would otherwise
   * stay open read-write in the service for its whole life).
   */
  private spawnDetached(argv: string[]): { pid: number | undefined; ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>; unref(): void } {
    const logFd = openSync(this.settings.logFile, 'a', 0o600);
    const devNull = openSync('/dev/null', 'r');
    try {
      // spawn(2) happens synchronously inside spawn(): the child holds its own copies of the fds afterwards.
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: this.settings.cwd,
        env: this.settings.env,
        detached: true,
        stdio: sealedStdio(['ignore', logFd, logFd], devNull),
      });
      const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: string }>((resolve) => {
        child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error: error.code ?? error.message }));
        child.once('exit', (code, signal) => resolve({ code, signal }));
      });
      return { pid: child.pid, ended, unref: () => child.unref() };
    } finally {
      closeSync(logFd);
      closeSync(devNull);
    }
  }

  private prepareDir(file: string): void {
    const dir = path.dirname(file);
    if (dir === this.ctx.stateDir) ensurePrivateDir(dir);
    else mkdirSync(dir, { recursive: true });
  }

  async stop(options: StopOptions): Promise<StopResult> {
    const started = Date.now();
    const first = await this.stopInstance(options);
    // What synup started may have handed the cell to a process outside its group (a launcher that detaches, e.g.
    // `setsid -f`): once it is gone, whatever still holds cell.guid and names this dir is the service, adopted as
    // `synup stop` adopts one started by hand. One that does not name this dir is left to the release wait's failure.
    const remaining = await findRunningInstance(this.ctx.cellDir).catch(() => null);
    const second = remaining ? await this.stopInstance(options) : null;
    await waitUntilReleased(this.ctx.cellDir, this.settings.releaseWaitMs);
    const cutShortAfterDataClosed = first.cutShortAfterDataClosed === true || second?.cutShortAfterDataClosed === true;
    return { forced: first.forced || second?.forced === true, durationMs: Date.now() - started, ...(cutShortAfterDataClosed ? { cutShortAfterDataClosed } : {}) };
  }

  /** Stops the instance synup started or adopts (or none), and the rest of its group. */
  private async stopInstance(options: StopOptions): Promise<Omit<StopResult, 'durationMs'>> {
    const live = this.liveRecord() ?? (await this.adopt());
    const record = live ?? readPidRecord(this.settings.pidFile);
    const target = live ? { pid: live.pid, startTicks: live.startTicks, group: this.leadsGroup(live) } : null;
    let forced = false;
    let cutShortAfterDataClosed = false;
    if (target) {
      // Its data is open while one of its processes holds an env (LMDB's lock on lock.mdb, a reader slot): closed, the
      // data is on disk whatever happens to the process next.
      const holdsData = async () => {
        const members = target.group ? groupMembers(target.pid) : [target.pid];
        return (await findHolders(this.ctx.cellDir)).some((h) => h.kind === 'reader' && members.includes(h.pid));
      };
      // Only for a service seen holding its data: one that never opened an env would otherwise be killed at once.
      const watchData = options.untilDataClosed === true && (await holdsData());
      signalProcess(target.pid, 'SIGTERM', target.group);
      const gone = () => !isAlive(target.pid, target.startTicks);
      const dataClosed = async () => !(await holdsData());
      const ended = watchData ? await waitUntil(async () => gone() || (await dataClosed()), options.timeoutMs, { firstMs: 10, maxMs: 25 }) : await waitGone(target.pid, target.startTicks, options.timeoutMs);
      if (ended && !gone()) {
        cutShortAfterDataClosed = true;
        signalProcess(target.pid, 'SIGKILL', target.group);
        await waitGone(target.pid, target.startTicks, this.settings.killWaitMs);
      }
      if (!ended) {
        forced = true;
        signalProcess(target.pid, 'SIGKILL', target.group);
        if (!(await waitGone(target.pid, target.startTicks, this.settings.killWaitMs))) {
          throw new SynupError('failed', `pid ${target.pid} survived SIGKILL for ${this.settings.killWaitMs} ms (stuck in the kernel, e.g. on I/O?)`, {
            hint: 'check `ps -o pid,stat,wchan -p ' + target.pid + '`; retry once it is gone',
          });
        }
      }
    }
    if (await this.stopLeftovers(record)) forced = true;
    if (record && !record.stoppedAt) writePidRecord(this.settings.pidFile, { ...record, stoppedAt: new Date().toISOString() });
    return { forced, ...(cutShortAfterDataClosed ? { cutShortAfterDataClosed } : {}) };
  }

  /** Whether the instance leads its own process group (synup started it detached, or a shell with job control did). */
  private leadsGroup(record: PidRecord): boolean {
    if (!record.adopted) return processGroup(record.pid) === record.pid;
    return record.adopted.pgid === record.pid && isAlive(record.pid, record.adopted.groupStartTicks);
  }

  /**
   * Takes over the live instance something else started (the holder of cell.guid's lock, checked to name this cell
   * dir): records it in the pid file so status, stop, restart and upgrade manage it. Returns the live record synup
   * already has, the new one, or null when nothing runs. `confirm` may refuse the instance before it is recorded.
   */
  async adopt(confirm?: () => Promise<void>): Promise<PidRecord | null> {
    const live = this.liveRecord();
    if (live) return live;
    const instance = await findRunningInstance(this.ctx.cellDir);
    if (!instance) return null;
    await confirm?.();
    const record: PidRecord = {
      pid: instance.pid,
      version: null,
      startedAt: new Date().toISOString(),
      startTicks: instance.startTicks,
      logFile: instance.logFile,
      logOffset: 0,
      adopted: { at: new Date().toISOString(), argv: instance.argv, pgid: instance.pgid, groupStartTicks: instance.groupStartTicks },
    };
    this.prepareDir(this.settings.pidFile);
    writePidRecord(this.settings.pidFile, record);
    return record;
  }

  /**
   * The rest of the group of an instance synup started, once its main process is gone (stopped, or SIGKILLed by the
   * OOM killer): SIGTERM, `groupWaitMs` to go, then SIGKILL. Returns whether it had to force.
   */
  private async stopLeftovers(record: PidRecord | null): Promise<boolean> {
    if (leftoversOf(record).length === 0) return false;
    const pgid = record!.pid;
    const empty = () => groupMembers(pgid).length === 0;
    if (!(await waitUntil(empty, Math.min(1000, this.settings.groupWaitMs)))) signalProcess(pgid, 'SIGTERM', true);
    if (await waitUntil(empty, this.settings.groupWaitMs)) return false;
    signalProcess(pgid, 'SIGKILL', true);
    if (!(await waitUntil(empty, this.settings.killWaitMs))) {
      throw new SynupError('failed', `process group ${pgid} (pids ${groupMembers(pgid).join(', ')}) survived SIGKILL for ${this.settings.killWaitMs} ms`, {
        hint: `check \`ps -o pid,stat,wchan -g ${pgid}\`; retry once they are gone`,
      });
    }
    return true;
  }

  async disableProbes(): Promise<SavedProbes> {
    return {};
  }

  async restoreProbes(): Promise<void> {}

  async *logs(options: LogOptions): AsyncGenerator<string> {
    const record = readPidRecord(this.settings.pidFile);
    const file = this.logFileOf(record);
    const from = record?.logOffset ?? (existsSync(file) ? statSync(file).size : 0);
    yield* followFile(file, { from, signal: options.signal, onCaughtUp: options.onCaughtUp });
  }

  async *tail(options: TailOptions): AsyncGenerator<string> {
    const file = this.logFileOf(readPidRecord(this.settings.pidFile));
    const { lines, end } = lastLines(file, options.lines);
    yield* lines;
    if (options.follow) yield* followFile(file, { from: end, signal: options.signal });
  }

  /** The current instance's log file; an adopted instance writing to a pipe or a terminal has none synup can read. */
  private logFileOf(record: PidRecord | null): string {
    if (record && record.logFile === null) {
      throw new SynupError('failed', `pid ${record.pid} (adopted) does not write its log to a file synup can read`, {
        hint: 'read it where its starter sends it (a terminal, a pipe, the journal), or restart it with `synup restart` so synup keeps its log',
      });
    }
    return record?.logFile ?? this.settings.logFile;
  }

  get cellUrl(): string {
    return `cell://${this.ctx.cellDir}/`;
  }

  async execArgv(argv: string[]): Promise<string[]> {
    return argv;
  }

  describe(action: 'stop' | 'start' | 'disable-probes' | 'restore-probes' | 'status', version?: string): string[][] {
    const pid = `<pid in ${this.settings.pidFile}>`;
    if (action === 'start') return [this.argv(version ?? null)];
    if (action === 'stop') return [['kill', '-TERM', pid]];
    if (action === 'status') return [['kill', '-0', pid]];
    return [];
  }
}
