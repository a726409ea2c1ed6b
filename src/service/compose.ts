import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { SynupConfig } from '../config/schema.js';
import { refusal } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { PROBES_REQUIRED, type AdapterPlanText, type LogOptions, type SavedProbes, type ServiceAdapter, type ServiceArtifacts, type ServiceStatus, type StopOptions, type StopResult, type TailOptions } from './adapter.js';
import { adapterSection, resolvePath, type AdapterContext } from './context.js';
import { waitUntilReleased } from './released.js';
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
    releaseWaitMs: 5_000,
  };
}

/** First line of synup's override file: a file without it is never written over. */
export const OVERRIDE_MARKER = '# synup-owned override: the image tag synup switched to, and the healthcheck it disables during an upgrade';

/** First line of the pull-only override; removed right after the pull, so a later `up` never sees it. */
export const PULL_MARKER = '# synup-owned, temporary: the image `docker compose pull` fetches before an upgrade';

/** How long a pull may take (a Synapse image is a few hundred MB). */
const PULL_TIMEOUT_MS = 30 * 60_000;

interface OverrideService {
  image?: string;
  healthcheck?: unknown;
}

interface PsEntry {
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

/** A docker compose service: version through synup's override file (`image: …:v{version}`), `stop`/`up -d`. */
export class ComposeAdapter implements ServiceAdapter {
  readonly name = 'compose' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: (required) =>
      `Save the compose service's healthcheck override in the journal and disable the healthcheck for the first boot${required ? PROBES_REQUIRED : ''}: synup's override file sets healthcheck: {disable: true}.`,
    probesOn: "The healthcheck is put back: synup's override file loses its healthcheck entry (or gets back the one it held before).",
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
    if (!text.startsWith(OVERRIDE_MARKER)) throw refusal(`${file} exists but was not written by synup; leaving it alone`, 'set service.compose.overrideFile to a file only synup writes');
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
    return { running: running.length > 0, configuredVersion, detail };
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

  private async inspectImage(ref: string): Promise<ServiceArtifacts> {
    const { stdout } = await runTool(['docker', 'image', 'inspect', ref], { env: this.settings.env, cwd: this.settings.cwd });
    const [info] = JSON.parse(stdout) as { Id?: string; RepoDigests?: string[] }[];
    return { image: ref, id: info?.Id ?? null, digests: info?.RepoDigests ?? [] };
  }

  async disableProbes(): Promise<SavedProbes> {
    const current = this.readOverride();
    const saved: SavedProbes = { overrideFile: this.settings.overrideFile, hadHealthcheck: 'healthcheck' in current };
    if (saved.hadHealthcheck) saved.healthcheck = current.healthcheck;
    this.writeOverride({ ...current, healthcheck: { disable: true } });
    return saved;
  }

  /** Removes synup's `healthcheck` key (or puts back what the override held before); the compose file's own applies again at the next recreate. */
  async restoreProbes(saved: SavedProbes): Promise<void> {
    if (!existsSync(this.settings.overrideFile)) return;
    const { healthcheck: _ours, ...rest } = this.readOverride();
    this.writeOverride(saved.hadHealthcheck === true ? { ...rest, healthcheck: saved.healthcheck } : rest);
  }

  logs(options: LogOptions): AsyncIterable<string> {
    const from = earliest(options.since, this.lastStart);
    const argv = this.compose(existsSync(this.settings.overrideFile), 'logs', '-f', '--no-log-prefix', ...(from ? ['--since', from.toISOString()] : []), this.settings.service);
    return followTool(argv, { env: this.settings.env, signal: options.signal, cwd: this.settings.cwd });
  }

  tail(options: TailOptions): AsyncIterable<string> {
    const argv = this.compose(existsSync(this.settings.overrideFile), 'logs', '--no-log-prefix', '--tail', String(options.lines), ...(options.follow ? ['-f'] : []), this.settings.service);
    return followTool(argv, { env: this.settings.env, signal: options.signal, cwd: this.settings.cwd });
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
