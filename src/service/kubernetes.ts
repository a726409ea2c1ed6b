import { setTimeout as sleep } from 'node:timers/promises';
import type { SynupConfig } from '../config/schema.js';
import { refusal, SynupError, usageError } from '../errors.js';
import type { AdapterPlanText, LogOptions, SavedProbes, ServiceAdapter, ServiceStatus, StopOptions, StopResult, TailOptions } from './adapter.js';
import type { AdapterContext } from './context.js';
import { waitUntilReleased } from './released.js';
import { followTool, isToolMissing, runTool } from './tool.js';
import { CONTAINER_CELL_URL, imageFor, versionOfImage } from './version.js';

/** service.kubernetes with every default applied. */
export interface KubernetesSettings {
  kind: 'statefulset' | 'deployment';
  name: string;
  namespace: string;
  /** The Synapse container; null = the workload's only container. */
  container: string | null;
  context: string | null;
  image: string;
  replicas: number;
  env: NodeJS.ProcessEnv;
  /** After scale/set image, how long the controller may take to create a pod. */
  podAppearMs: number;
  /** After a forced pod delete, how long the pods may take to disappear. */
  killWaitMs: number;
  /** Pause before following the pod log again (container not started yet, or restarted). */
  logRetryMs: number;
  releaseWaitMs: number;
}

export function kubernetesSettings(config: SynupConfig, ctx: AdapterContext): KubernetesSettings {
  const own = config.service.kubernetes;
  if (!own) throw usageError('service.adapter is kubernetes but service.kubernetes is not set', 'add service.kubernetes.name (the StatefulSet) and namespace to synup.yaml');
  return {
    kind: own.kind,
    name: own.name,
    namespace: own.namespace,
    container: own.container ?? null,
    context: own.context ?? null,
    image: own.image,
    replicas: own.replicas,
    env: ctx.env,
    podAppearMs: 120_000,
    killWaitMs: 60_000,
    logRetryMs: 2_000,
    releaseWaitMs: 5_000,
  };
}

/** The probes synup lifts during an upgrade: a slow first boot must not be killed by them. */
const LIFTED_PROBES = ['startupProbe', 'livenessProbe'] as const;

interface Container {
  name: string;
  image?: string;
  startupProbe?: unknown;
  livenessProbe?: unknown;
}

interface Workload {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] };
    template?: { spec?: { containers?: Container[] } };
  };
  status?: { readyReplicas?: number };
}

interface Pod {
  metadata?: { name?: string };
  status?: { phase?: string; containerStatuses?: { name: string; state?: { waiting?: { reason?: string } } }[] };
}

type JsonPatchOp = { op: 'test' | 'add' | 'replace' | 'remove'; path: string; value?: unknown };

/** A StatefulSet/Deployment: scale to 0 to stop, `set image` + scale to start, probes removed/restored by JSON patch. */
export class KubernetesAdapter implements ServiceAdapter {
  readonly name = 'kubernetes' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: "the container's startupProbe and livenessProbe are removed",
    start: (version) => `set the container image tag to v${version} and scale the workload back up`,
  };

  constructor(
    private readonly ctx: AdapterContext,
    private readonly settings: KubernetesSettings,
  ) {}

  private get target(): string {
    return `${this.settings.kind}/${this.settings.name}`;
  }

  private kubectl(...args: string[]): string[] {
    const s = this.settings;
    return ['kubectl', ...(s.context ? ['--context', s.context] : []), '-n', s.namespace, ...args];
  }

  private async json<T>(...args: string[]): Promise<T> {
    const { stdout } = await runTool(this.kubectl(...args), { env: this.settings.env });
    try {
      return JSON.parse(stdout) as T;
    } catch {
      throw new SynupError('failed', `\`kubectl ${args.join(' ')}\` did not print JSON: ${JSON.stringify(stdout.slice(0, 120))}`);
    }
  }

  private workload(): Promise<Workload> {
    return this.json<Workload>('get', this.target, '-o', 'json');
  }

  /** Index and spec of the Synapse container in the pod template. */
  private container(workload: Workload): { index: number; container: Container } {
    const containers = workload.spec?.template?.spec?.containers ?? [];
    const wanted = this.settings.container;
    const index = wanted ? containers.findIndex((c) => c.name === wanted) : containers.length === 1 ? 0 : -1;
    if (index < 0) {
      const names = containers.map((c) => c.name).join(', ') || 'none';
      throw usageError(
        wanted ? `${this.target} has no container ${wanted} (containers: ${names})` : `${this.target} has ${containers.length} containers (${names}): synup cannot tell which is Synapse`,
        'set service.kubernetes.container in synup.yaml',
      );
    }
    return { index, container: containers[index]! };
  }

  private selector(workload: Workload): string {
    const labels = workload.spec?.selector?.matchLabels ?? {};
    if (workload.spec?.selector?.matchExpressions?.length || Object.keys(labels).length === 0) {
      throw usageError(`${this.target}: only a selector with matchLabels is supported`, 'give the workload a matchLabels selector');
    }
    return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  }

  private async pods(selector: string): Promise<Pod[]> {
    return (await this.json<{ items?: Pod[] }>('get', 'pods', '-l', selector, '-o', 'json')).items ?? [];
  }

  /** Polls the pod list until `done` or the deadline; returns the last list. */
  private async waitPods(selector: string, timeoutMs: number, done: (pods: Pod[]) => boolean): Promise<Pod[]> {
    const deadline = Date.now() + timeoutMs;
    for (let pause = 250; ; pause = Math.min(pause * 2, 2000)) {
      const pods = await this.pods(selector);
      if (done(pods) || Date.now() >= deadline) return pods;
      await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
    }
  }

  async status(): Promise<ServiceStatus> {
    const workload = await this.workload();
    const { container } = this.container(workload);
    const pods = await this.pods(this.selector(workload));
    const waiting = pods.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
    return {
      running: pods.length > 0,
      configuredVersion: versionOfImage(container.image),
      detail: `${this.target}: ${pods.length} pod(s), ${workload.status?.readyReplicas ?? 0}/${workload.spec?.replicas ?? 0} ready${waiting.length ? `, waiting: ${waiting.join(', ')}` : ''}`,
    };
  }

  async start(version: string): Promise<void> {
    const image = imageFor(this.settings.image, version);
    const workload = await this.workload();
    const { container } = this.container(workload);
    const selector = this.selector(workload);
    if ((await this.pods(selector)).length > 0) throw refusal(`${this.target} still has pods`, 'stop it first (scale to 0): the data must not be shared by two versions');
    await runTool(this.kubectl('set', 'image', this.target, `${container.name}=${image}`), { env: this.settings.env });
    await runTool(this.kubectl('scale', this.target, `--replicas=${this.settings.replicas}`), { env: this.settings.env });
    const pods = await this.waitPods(selector, this.settings.podAppearMs, (list) => list.length > 0);
    if (pods.length === 0) throw new SynupError('failed', `${this.target} was scaled to ${this.settings.replicas} but no pod appeared within ${this.settings.podAppearMs / 1000} s`, { hint: `check \`kubectl -n ${this.settings.namespace} describe ${this.target}\` (quota, scheduling, PVC)` });
  }

  async stop(options: StopOptions): Promise<StopResult> {
    const started = Date.now();
    const selector = this.selector(await this.workload());
    let forced = false;
    await runTool(this.kubectl('scale', this.target, '--replicas=0'), { env: this.settings.env });
    let pods = await this.waitPods(selector, options.timeoutMs, (list) => list.length === 0);
    if (pods.length > 0) {
      forced = true;
      const names = pods.map((p) => p.metadata?.name).filter((n): n is string => Boolean(n));
      await runTool(this.kubectl('delete', 'pod', ...names, '--grace-period=0', '--force'), { env: this.settings.env });
      pods = await this.waitPods(selector, this.settings.killWaitMs, (list) => list.length === 0);
      if (pods.length > 0) throw new SynupError('failed', `${this.target} still has ${pods.length} pod(s) after a forced delete`, { hint: 'check the node the pod ran on (kubelet down?) before touching the data' });
    }
    await waitUntilReleased(this.ctx.cellDir, this.settings.releaseWaitMs);
    return { forced, durationMs: Date.now() - started };
  }

  private containerPath(index: number, key: string): string {
    return `/spec/template/spec/containers/${index}/${key}`;
  }

  private async patch(ops: JsonPatchOp[]): Promise<void> {
    await runTool(this.kubectl('patch', this.target, '--type=json', '-p', JSON.stringify(ops)), { env: this.settings.env });
  }

  /** Saves the container's startupProbe/livenessProbe exactly as they are, then removes them (one JSON patch). */
  async disableProbes(): Promise<SavedProbes> {
    const { index, container } = this.container(await this.workload());
    const saved: SavedProbes = { container: container.name, probes: {} };
    const probes = saved.probes as Record<string, unknown>;
    for (const key of LIFTED_PROBES) if (container[key] !== undefined) probes[key] = container[key];
    const keys = Object.keys(probes);
    if (keys.length > 0) {
      await this.patch([
        { op: 'test', path: this.containerPath(index, 'name'), value: container.name },
        ...keys.map((key): JsonPatchOp => ({ op: 'remove', path: this.containerPath(index, key) })),
      ]);
    }
    return saved;
  }

  /** Puts the saved probes back exactly (add, or replace when one is present again). */
  async restoreProbes(saved: SavedProbes): Promise<void> {
    const probes = (saved.probes ?? {}) as Record<string, unknown>;
    const keys = Object.keys(probes).filter((k) => (LIFTED_PROBES as readonly string[]).includes(k));
    if (keys.length === 0) return;
    const workload = await this.workload();
    const containers = workload.spec?.template?.spec?.containers ?? [];
    const index = containers.findIndex((c) => c.name === saved.container);
    if (index < 0) throw new SynupError('failed', `${this.target} has no container ${String(saved.container)} any more: cannot put its probes back`, { hint: `re-apply your manifest; the saved probes were ${JSON.stringify(probes)}` });
    const current = containers[index] as unknown as Record<string, unknown>;
    await this.patch([
      { op: 'test', path: this.containerPath(index, 'name'), value: saved.container },
      ...keys.map((key): JsonPatchOp => ({ op: current[key] === undefined ? 'add' : 'replace', path: this.containerPath(index, key), value: probes[key] })),
    ]);
  }

  /**
   * `kubectl logs -f <kind>/<name> -c <container>`: a fresh pod's log is this boot's log, so `since` is not needed.
   * Retried while the container is not running yet; after a stream ended, only newer lines are asked for.
   */
  async *logs(options: LogOptions): AsyncGenerator<string> {
    const container = this.settings.container ?? this.container(await this.workload()).container.name;
    let sinceTime: string | undefined;
    while (!options.signal.aborted) {
      try {
        const argv = this.kubectl('logs', '-f', this.target, '-c', container, ...(sinceTime ? [`--since-time=${sinceTime}`] : []));
        for await (const line of followTool(argv, { env: this.settings.env, signal: options.signal })) yield line;
        sinceTime = new Date().toISOString();
      } catch (error) {
        if (isToolMissing(error)) throw error;
        // not started yet (ContainerCreating) or the pod went away: try again
      }
      await sleep(this.settings.logRetryMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }

  async *tail(options: TailOptions): AsyncGenerator<string> {
    const container = this.settings.container ?? this.container(await this.workload()).container.name;
    yield* followTool(this.kubectl('logs', `--tail=${options.lines}`, ...(options.follow ? ['-f'] : []), this.target, '-c', container), { env: this.settings.env, signal: options.signal });
  }

  readonly cellUrl = CONTAINER_CELL_URL;

  async execArgv(argv: string[]): Promise<string[]> {
    const container = this.settings.container ?? this.container(await this.workload()).container.name;
    return this.kubectl('exec', this.target, '-c', container, '--', ...argv);
  }

  describe(action: 'stop' | 'start' | 'disable-probes' | 'restore-probes' | 'status', version?: string): string[][] {
    const container = this.settings.container ?? '<container>';
    if (action === 'start') {
      return [
        this.kubectl('set', 'image', this.target, `${container}=${version ? imageFor(this.settings.image, version) : `${this.settings.image}:v{version}`}`),
        this.kubectl('scale', this.target, `--replicas=${this.settings.replicas}`),
      ];
    }
    if (action === 'stop') return [this.kubectl('scale', this.target, '--replicas=0')];
    if (action === 'status') return [this.kubectl('get', this.target, '-o', 'json')];
    return [this.kubectl('patch', this.target, '--type=json', '-p', `<JSON patch ${action === 'disable-probes' ? 'removing' : 'adding back'} ${LIFTED_PROBES.join('/')}>`)];
  }
}
