import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { SynupConfig } from '../config/schema.js';
import { refusal } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { PROBES_REQUIRED, type AdapterPlanText, type LogMark, type LogOptions, type SavedProbes, type StampedLine, type ServiceAdapter, type ServiceArtifacts, type ServiceStatus, type StopOptions, type StopResult, type TailOptions } from './adapter.js';
import { adapterSection, resolvePath, type AdapterContext } from './context.js';
import { waitUntilReleased } from './released.js';
import { readEnvVariable, writeEnvVariable } from './env-file.js';
import { markOf, splitStamp, stripControl } from './log-stamp.js';
import { earliest, followTool, runTool } from './tool.js';
import { CONTAINER_CELL_URL, imageFor, versionOfImage } from './version.js';

/** service.compose with every default applied. */
export interface ComposeSettings {
  file: string;
  /** synup's own override file (image tag, healthcheck during an upgrade), passed as a second `-f`. */
  overrideFile: string;
  /** synup's pull-only override (the target image), present only while `docker compose pull` runs. */
  pullFile: string;
  project: string | null;
  service: string;
  image: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** service.stopTimeout, for the `stop -t` shown by describe(). */
  stopTimeoutMs: number;
  /** service.compose.updateFile: synup may write the tag into the compose file (pinVersion). */
  updateFile: boolean;
  /** health.startTimeout in s: the healthcheck's start period during the first boot. */
  startBudgetSeconds: number;
  releaseWaitMs: number;
}

export function composeSettings(config: SynupConfig, ctx: AdapterContext): ComposeSettings {
  const own = adapterSection(config, 'compose', 'service.compose.service (the Cortex service name) and service.compose.file');
  const file = resolvePath(ctx, own.file);
  const stem = path.basename(file).replace(/\.ya?ml$/, '');
  return {
    file,
    overrideFile: own.overrideFile ? resolvePath(ctx, own.overrideFile) : path.join(path.dirname(file), `${stem}.synup.yaml`),
    pullFile: path.join(path.dirname(file), `${stem}.synup-pull.yaml`),
    project: own.project ?? null,
    service: own.service,
    image: own.image,
    env: ctx.env,
    cwd: path.dirname(file),
    stopTimeoutMs: config.service.stopTimeout,
    updateFile: own.updateFile,
    startBudgetSeconds: Math.ceil(config.health.startTimeout / 1000),
    releaseWaitMs: 5_000,
  };
}

/** First line of synup's override file: a file without it is never written over. */
export const OVERRIDE_MARKER = "# synup-owned override: the image tag synup switched to, and the healthcheck's start period it widens during an upgrade";
/** The same line as synup wrote it before issue 20 (it disabled the healthcheck): still synup's file. */
const OLD_OVERRIDE_MARKER = '# synup-owned override: the image tag synup switched to, and the healthcheck it disables during an upgrade';

/** First line of the pull-only override; removed right after the pull, so a later `up` never sees it. */
export const PULL_MARKER = '# synup-owned, temporary: the image `docker compose pull` fetches before an upgrade';

/** How long a pull may take (a Synapse image is a few hundred MB). */
const PULL_TIMEOUT_MS = 30 * 60_000;

interface OverrideService {
  image?: string;
  healthcheck?: unknown;
}

interface PsEntry {
  ID?: string;
  State?: string;
  Image?: string;
  ExitCode?: number;
  Name?: string;
  Health?: string;
}

const RUNNING_STATES = new Set(['running', 'restarting', 'paused', 'removing']);

/** `docker compose ps --format json`: one object per line (compose ≥ 2.21) or one array (older). */
function parsePs(stdout: string): PsEntry[] {
  // `docker compose images --format json` has the same two shapes.
  const text = stdout.trim();
  if (text === '') return [];
  if (text.startsWith('[')) return JSON.parse(text) as PsEntry[];
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as PsEntry);
}

/** The lines without the terminal control sequences compose puts in them (`ESC[2K` before every line in 2.26). */
async function* stripped(lines: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines) yield stripControl(line);
}

/** A docker compose service: version through synup's override file (`image: …:v{version}`), `stop`/`up -d`. */
export class ComposeAdapter implements ServiceAdapter {
  readonly name = 'compose' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: (required) =>
      `Save the compose service's healthcheck override in the journal and widen the healthcheck's start period to health.startTimeout for the first boot${required ? PROBES_REQUIRED : ''}: synup's override file sets healthcheck: {start_period: …}; the check keeps running.`,
    probesOn: "The healthcheck's start period is put back: synup's override file loses its healthcheck entry (or gets back the one it held before).",
    stop: (deadline) => `docker compose stop of the service${deadline ? ` (-t ${deadline})` : ''}`,
    start: (version) => `point the compose service at the image tag v${version} and bring it up`,
  };
  readonly plan = ComposeAdapter.plan;
  private lastStart: Date | undefined;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly settings: ComposeSettings,
  ) {}

  /** `docker compose -f <file> [-f <override>] [-p <project>] …`; the override joins once it exists (always in describe). */
  private compose(withOverride: boolean, ...args: string[]): string[] {
    const s = this.settings;
    return ['docker', 'compose', '-f', s.file, ...(withOverride ? ['-f', s.overrideFile] : []), ...(s.project ? ['-p', s.project] : []), ...args];
  }

  private run(...args: string[]) {
    return runTool(this.compose(existsSync(this.settings.overrideFile), ...args), { env: this.settings.env, cwd: this.settings.cwd });
  }

  private readOverride(): OverrideService {
    const file = this.settings.overrideFile;
    if (!existsSync(file)) return {};
    const text = readFileSync(file, 'utf8');
    if (!text.startsWith(OVERRIDE_MARKER) && !text.startsWith(OLD_OVERRIDE_MARKER)) throw refusal(`${file} exists but was not written by synup; leaving it alone`, 'set service.compose.overrideFile to a file only synup writes');
    const doc = (parseYaml(text) ?? {}) as { services?: Record<string, OverrideService> };
    return doc.services?.[this.settings.service] ?? {};
  }

  private writeOverride(service: OverrideService): void {
    const doc = { services: { [this.settings.service]: service } };
    writeFileAtomic(this.settings.overrideFile, `${OVERRIDE_MARKER}\n${stringifyYaml(doc)}`, 0o644);
  }

  private async entries(): Promise<PsEntry[]> {
    return parsePs((await this.run('ps', '--all', '--format', 'json', this.settings.service)).stdout);
  }

  async status(): Promise<ServiceStatus> {
    const entries = await this.entries();
    const running = entries.filter((e) => RUNNING_STATES.has(e.State ?? ''));
    const image = this.readOverride().image ?? entries[0]?.Image;
    const configuredVersion = versionOfImage(image);
    const floating = image && !configuredVersion ? `; image ${image} has a floating tag: the version is read from the data` : '';
    const detail = (entries.length === 0 ? `no container for service ${this.settings.service}` : entries.map((e) => `${e.Name ?? '?'} ${e.State ?? '?'}${e.Health ? ` (${e.Health})` : ''}`).join(', ')) + floating;
    const instance = await this.instanceOf(running);
    return { running: running.length > 0, configuredVersion, detail, ...(instance ? { instance } : {}) };
  }

  /**
   * The running container's id, start time and restart count (`docker container inspect`): Docker's `restart:` policy
   * restarts a killed container behind synup's back, and only these tell (issue 20).
   */
  private async instanceOf(running: PsEntry[]): Promise<string | null> {
    const ids = running.map((e) => e.ID).filter((id): id is string => typeof id === 'string' && id !== '');
    if (ids.length === 0) return null;
    const { stdout } = await runTool(['docker', 'container', 'inspect', ...ids], { env: this.settings.env, cwd: this.settings.cwd, okExitCodes: [1] });
    let containers: { Id?: string; RestartCount?: number; State?: { StartedAt?: string } }[];
    try {
      containers = JSON.parse(stdout || '[]') as typeof containers;
    } catch {
      return null;
    }
    const parts = containers.map((c) => `container ${(c.Id ?? '?').slice(0, 12)} started ${c.State?.StartedAt ?? '?'} restarts ${c.RestartCount ?? 0}`);
    return parts.length ? parts.join('; ') : null;
  }

  async start(version: string): Promise<void> {
    const image = imageFor(this.settings.image, version);
    const status = await this.status();
    if (status.running) throw refusal(`${this.settings.service} is already running (${status.detail})`, 'stop it first: `up -d` would recreate it without the stop checks');
    this.writeOverride({ ...this.readOverride(), image });
    this.lastStart = new Date();
    await this.run('up', '-d', this.settings.service);
  }

  async stop(options: StopOptions): Promise<StopResult> {
    const started = Date.now();
    let forced = false;
    if ((await this.status()).running) {
      const seconds = String(Math.max(1, Math.ceil(options.timeoutMs / 1000)));
      await runTool(this.compose(existsSync(this.settings.overrideFile), 'stop', '-t', seconds, this.settings.service), {
        env: this.settings.env,
        cwd: this.settings.cwd,
        timeoutMs: options.timeoutMs + 60_000,
      });
      // docker sends SIGKILL itself after -t seconds; exit code 137 tells it had to.
      forced = (await this.entries()).some((e) => e.ExitCode === 137);
    }
    await waitUntilReleased(this.ctx.cellDir, this.settings.releaseWaitMs);
    return { forced, durationMs: Date.now() - started };
  }

  /**
   * The operator's own `docker compose up -d` (without synup's override) must start `version` too, or it recreates
   * the container on the old tag, which refuses the upgraded data (BadVersion) and loops (issue 20). Where the tag
   * lives: a variable the compose file interpolates for this service's image (`image: …:v${SYNAPSE_VERSION}`) is set
   * in the project's `.env`; else, with service.compose.updateFile, the image in the file itself is rewritten (a
   * backup `<file>.synup-<stamp>.bak` first, nothing else in the file changed); else a WARNING says what to change.
   */
  async pinVersion(version: string): Promise<string | null> {
    const target = imageFor(this.settings.image, version);
    const file = this.settings.file;
    const text = readFileSync(file, 'utf8');
    const raw = (parseYaml(text) as { services?: Record<string, { image?: unknown }> } | null)?.services?.[this.settings.service]?.image;
    if (typeof raw !== 'string') return `WARNING: ${file} names no image for ${this.settings.service}: \`docker compose up -d\` without ${path.basename(this.settings.overrideFile)} would not start ${target}`;
    const variables = [...raw.matchAll(/\$\{(\w+)(?:[:]?[-?][^}]*)?\}|\$(\w+)/g)];
    if (variables.length === 1) {
      const match = variables[0]!;
      const [prefix, suffix] = [raw.slice(0, match.index), raw.slice(match.index! + match[0].length)];
      const name = (match[1] ?? match[2])!;
      if (target.startsWith(prefix) && target.endsWith(suffix) && target.length >= prefix.length + suffix.length) {
        const value = target.slice(prefix.length, target.length - suffix.length);
        const envFile = path.join(this.settings.cwd, '.env');
        if (readEnvVariable(envFile, name) === value) return null;
        writeEnvVariable(envFile, name, value);
        return `${name}=${value} in ${envFile} (${path.basename(file)} takes the image tag from it): \`docker compose up -d\` starts ${target}`;
      }
    }
    if (raw === target) return null;
    if (variables.length === 0 && this.updateFile) {
      const occurrences = text.split(raw).length - 1;
      if (occurrences === 1) {
        const backup = `${file}.synup-${new Date().toISOString().replace(/[:.]/g, '')}.bak`;
        copyFileSync(file, backup);
        writeFileAtomic(file, text.replace(raw, target), statSync(file).mode & 0o7777);
        return `${path.basename(file)}: image ${raw} → ${target} (service.compose.updateFile; the file before: ${backup})`;
      }
    }
    if (variables.length === 0 && versionOfImage(raw) === null) {
      // A floating tag (`v2.x.x`): what a plain `up -d` starts is the image the tag names on this engine now.
      const [named, wanted] = await Promise.all([this.imageId(raw), this.imageId(target)]);
      if (named !== null && named === wanted) return null;
      return `WARNING: ${path.basename(file)} names the floating tag ${raw}, which on this engine is ${named ? `image ${named.slice(0, 19)}…` : 'no image'}, not ${target}${wanted ? ` (${wanted.slice(0, 19)}…)` : ''}: a plain \`docker compose up -d\` would recreate ${this.settings.service} on it, which refuses data written by ${version}; \`docker compose pull\` first makes it what the registry's tag names now (check that it is ${version}), or pin ${target} there (service.compose.updateFile: true lets synup)`;
    }
    return `WARNING: ${path.basename(file)} still names ${raw}: a plain \`docker compose up -d\` would recreate ${this.settings.service} on it, which refuses data written by ${version}; set the tag to ${target} there (or let synup: service.compose.updateFile: true, or take the tag from a variable in .env)`;
  }

  private get updateFile(): boolean {
    return this.settings.updateFile;
  }

  /** `docker compose pull` of the target image through a pull-only override, then its id and digests. */
  async prepare(version: string): Promise<ServiceArtifacts> {
    const image = imageFor(this.settings.image, version);
    const file = this.settings.pullFile;
    if (existsSync(file) && !readFileSync(file, 'utf8').startsWith(PULL_MARKER)) {
      throw refusal(`${file} exists but was not written by synup; leaving it alone`, 'move it away: synup writes the image to pull there for the moment of the pull');
    }
    writeFileAtomic(file, `${PULL_MARKER}\n${stringifyYaml({ services: { [this.settings.service]: { image } } })}`, 0o644);
    try {
      await runTool(['docker', 'compose', '-f', this.settings.file, '-f', file, ...(this.settings.project ? ['-p', this.settings.project] : []), 'pull', this.settings.service], {
        env: this.settings.env,
        cwd: this.settings.cwd,
        timeoutMs: PULL_TIMEOUT_MS,
      });
    } finally {
      rmSync(file, { force: true });
    }
    return this.inspectImage(image);
  }

  /** The image the service's container runs (`docker compose images`), with its digests. */
  async runningArtifacts(): Promise<ServiceArtifacts | null> {
    const entries = parsePs((await this.run('images', '--format', 'json', this.settings.service)).stdout) as { ID?: string; Repository?: string; Tag?: string }[];
    const entry = entries.find((e) => e.ID);
    if (!entry?.ID) return null;
    return { ...(await this.inspectImage(entry.ID)), image: `${entry.Repository ?? '?'}:${entry.Tag ?? '?'}` };
  }

  /** The id of the image `ref` names on this engine, or null when it has none. */
  private async imageId(ref: string): Promise<string | null> {
    const { stdout, exitCode } = await runTool(['docker', 'image', 'inspect', '--format', '{{.Id}}', ref], { env: this.settings.env, cwd: this.settings.cwd, okExitCodes: [1] });
    return exitCode === 0 && stdout.trim() !== '' ? stdout.trim() : null;
  }

  private async inspectImage(ref: string): Promise<ServiceArtifacts> {
    const { stdout } = await runTool(['docker', 'image', 'inspect', ref], { env: this.settings.env, cwd: this.settings.cwd });
    const [info] = JSON.parse(stdout) as { Id?: string; RepoDigests?: string[] }[];
    return { image: ref, id: info?.Id ?? null, digests: info?.RepoDigests ?? [] };
  }

  /**
   * Docker never restarts an unhealthy container by itself (only `restart:` on exit), but an unhealthy one is what
   * `depends_on: service_healthy`, autoheal-style watchers and operators act on. So the healthcheck is not disabled
   * (a container created without one keeps none after the upgrade, issue 20): the override only widens its
   * `start_period` to health.startTimeout, merged by compose into the file's healthcheck (or Docker into the image's),
   * so failures during a long migration are not counted and the new container runs the real check throughout.
   */
  async disableProbes(): Promise<SavedProbes> {
    const current = this.readOverride();
    const saved: SavedProbes = { overrideFile: this.settings.overrideFile, hadHealthcheck: 'healthcheck' in current };
    if (saved.hadHealthcheck) saved.healthcheck = current.healthcheck;
    this.writeOverride({ ...current, healthcheck: { start_period: `${this.settings.startBudgetSeconds}s` } });
    return saved;
  }

  /**
   * Removes synup's `healthcheck` key (or puts back what the override held before): the next recreate gets the
   * original start period. The running container keeps the widened one, which matters only until its first healthy
   * check, and its healthcheck runs as before.
   */
  async restoreProbes(saved: SavedProbes): Promise<void> {
    if (!existsSync(this.settings.overrideFile)) return;
    const { healthcheck: _ours, ...rest } = this.readOverride();
    this.writeOverride(saved.hadHealthcheck === true ? { ...rest, healthcheck: saved.healthcheck } : rest);
  }

  /** `docker compose logs [-f] --no-log-prefix [--timestamps] --since <from> <service>`, from the earlier of `since` and synup's last start. */
  private logsArgv(since: Date | undefined, options: { follow: boolean; timestamps: boolean }): string[] {
    const from = earliest(since, this.lastStart);
    return this.compose(existsSync(this.settings.overrideFile), 'logs', ...(options.follow ? ['-f'] : []), '--no-log-prefix', ...(options.timestamps ? ['--timestamps'] : []), ...(from ? ['--since', from.toISOString()] : []), this.settings.service);
  }

  logs(options: LogOptions): AsyncIterable<string> {
    return stripped(followTool(this.logsArgv(options.since, { follow: true, timestamps: false }), { env: this.settings.env, signal: options.signal, cwd: this.settings.cwd }));
  }

  /** With Docker's own stamps (`--timestamps`); every line starts with `ESC[2K` in compose 2.26: stripped. */
  async *stampedLogs(options: LogOptions): AsyncGenerator<StampedLine> {
    for await (const line of followTool(this.logsArgv(options.since, { follow: true, timestamps: true }), { env: this.settings.env, signal: options.signal, cwd: this.settings.cwd })) {
      yield splitStamp(line);
    }
  }

  async logMark(since: Date | undefined): Promise<LogMark | null> {
    const { stdout } = await runTool(this.logsArgv(since, { follow: false, timestamps: true }), { env: this.settings.env, cwd: this.settings.cwd });
    return markOf(stdout.split('\n').map(splitStamp));
  }

  tail(options: TailOptions): AsyncIterable<string> {
    const argv = this.compose(existsSync(this.settings.overrideFile), 'logs', '--no-log-prefix', '--tail', String(options.lines), ...(options.follow ? ['-f'] : []), this.settings.service);
    return stripped(followTool(argv, { env: this.settings.env, signal: options.signal, cwd: this.settings.cwd }));
  }

  readonly cellUrl = CONTAINER_CELL_URL;

  async execArgv(argv: string[]): Promise<string[]> {
    return this.compose(existsSync(this.settings.overrideFile), 'exec', '-T', this.settings.service, ...argv);
  }

  describe(action: 'stop' | 'start' | 'disable-probes' | 'restore-probes' | 'status'): string[][] {
    const service = this.settings.service;
    if (action === 'start') return [this.compose(true, 'up', '-d', service)];
    if (action === 'stop') return [this.compose(true, 'stop', '-t', String(Math.ceil(this.settings.stopTimeoutMs / 1000)), service)];
    if (action === 'status') return [this.compose(true, 'ps', '--all', '--format', 'json', service)];
    return [];
  }
}
