import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from '../poll.js';
import { kubernetesDataMode, type SynupConfig } from '../config/schema.js';
import { refusal, SynupError, usageError } from '../errors.js';
import { SYNUP_VERSION } from '../version.js';
import type { AdapterPlanText, LogOptions, SavedProbes, ServiceAdapter, ServiceStatus, StopOptions, StopResult, TailOptions } from './adapter.js';
import { adapterSection, type AdapterContext } from './context.js';
import { helmRelease, helmUpgradeArgv, requireHelmChart, type HelmSettings } from './kubernetes/helm.js';
import { Kubectl } from './kubernetes/kubectl.js';
import { BUDGET_ANNOTATION, startupBudgetSeconds, widenedStartupProbe } from './kubernetes/probes.js';
import { KubernetesVolume, type VolumeSettings, type WorkloadAccess } from './kubernetes/volume.js';
import type { Container, Pod, Workload } from './kubernetes/workload.js';
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
  /** Where the data is: on the PVC (Jobs) or at cell.dir, visible to synup. */
  data: 'volume' | 'local';
  /** health.startTimeout in seconds: the startup budget the new pod's startupProbe must allow. */
  startBudgetSeconds: number;
  volume: VolumeSettings;
  helm: HelmSettings;
}

export function kubernetesSettings(config: SynupConfig, ctx: AdapterContext): KubernetesSettings {
  const own = adapterSection(config, 'kubernetes', 'service.kubernetes.name (the StatefulSet) and namespace');
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
    data: dataMode(config),
    startBudgetSeconds: Math.ceil(config.health.startTimeout / 1000),
    volume: {
      image: own.volume.image ?? `synup/synup:${SYNUP_VERSION}`,
      mountPath: own.volume.mountPath,
      backupClaim: own.volume.backupClaim ?? null,
      runAsUser: own.volume.runAsUser ?? null,
      jobTimeoutMs: own.volume.jobTimeout,
      jobStartTimeoutMs: own.volume.jobStartTimeout,
      pollMs: 2_000,
      manifestDir: path.join(ctx.stateDir, 'kubernetes'),
    },
    helm: { chart: own.helm.chart ?? null, chartVersion: own.helm.chartVersion ?? null, imageKey: own.helm.imageKey, imageValue: own.helm.imageValue },
  };
}

type JsonPatchOp = { op: 'test' | 'add' | 'replace' | 'remove'; path: string; value?: unknown };

function dataMode(config: SynupConfig): 'volume' | 'local' {
  return kubernetesDataMode(config) ?? 'volume';
}

/**
 * The local stand-in for a cell whose data is on a PVC: the key of its lock and journal (nothing is stored in it),
 * or null when the data is a local dir.
 */
export function remoteCellKey(config: SynupConfig, stateDir: string): string | null {
  const own = config.service.kubernetes;
  if (config.service.adapter !== 'kubernetes' || !own || dataMode(config) === 'local') return null;
  return path.join(stateDir, 'cluster', [own.context ?? 'current', own.namespace, own.kind, own.name].join('_'));
}

/**
 * A StatefulSet/Deployment: scale to 0 to stop; start = one JSON patch of the pod template while at 0 (new image and,
 * when needed, a startup budget long enough for the migrations) then scale up, so no running pod is ever rolled by
 * synup; a Helm release is upgraded with `helm upgrade --reuse-values` instead. The data: see KubernetesVolume.
 */
export class KubernetesAdapter implements ServiceAdapter, WorkloadAccess {
  readonly name = 'kubernetes' as const;
  static readonly plan: AdapterPlanText = {
    probesOff: (required) =>
      `Save the container's startupProbe and livenessProbe in the journal; they are never removed${required ? ' (migrations make the first boot slow)' : ''}: if the startupProbe allows less boot time than health.startTimeout, that budget is recorded as an annotation on the workload (metadata: nothing restarts) and the start patch widens the startupProbe to it.`,
    probesOn: 'Nothing is put back: the widened startupProbe stays (removing it would roll the pod again); synup removes only its budget annotation. The original probes stay in the journal.',
    stop: (deadline) => `Scale the workload to 0 replicas and wait until no pod of it is left${deadline ? ` (${deadline}, then the pods are force-deleted)` : ''}`,
    start: (version) => `one JSON patch of the pod template while at 0 replicas (image tag v${version}, the startupProbe budget if recorded), then scale the workload back up`,
  };
  readonly plan = KubernetesAdapter.plan;
  readonly volume: KubernetesVolume;
  readonly remoteData?: KubernetesVolume;
  private readonly kube: Kubectl;
  private nodeOfLastPod: string | null = null;

  constructor(
    private readonly ctx: AdapterContext,
    private readonly settings: KubernetesSettings,
  ) {
    this.kube = new Kubectl({ namespace: settings.namespace, context: settings.context, env: settings.env });
    this.volume = new KubernetesVolume(this.kube, this, settings.volume);
    if (settings.data === 'volume') this.remoteData = this.volume;
  }

  get target(): string {
    return `${this.settings.kind}/${this.settings.name}`;
  }

  get kind(): 'statefulset' | 'deployment' {
    return this.settings.kind;
  }

  get workloadName(): string {
    return this.settings.name;
  }

  get cellName(): string {
    return this.ctx.cellName;
  }

  lastNode(): string | null {
    return this.nodeOfLastPod;
  }

  private kubectl(...args: string[]): string[] {
    return this.kube.argv(...args);
  }

  private json<T>(...args: string[]): Promise<T> {
    return this.kube.json<T>(...args);
  }

  workload(): Promise<Workload> {
    return this.json<Workload>('get', this.target, '-o', 'json');
  }

  /** Index and spec of the Synapse container in the pod template. */
  container(workload: Workload): { index: number; container: Container } {
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

  private async podsOf(selector: string): Promise<Pod[]> {
    return (await this.json<{ items?: Pod[] }>('get', 'pods', '-l', selector, '-o', 'json')).items ?? [];
  }

  pods(workload: Workload): Promise<Pod[]> {
    return this.podsOf(this.selector(workload));
  }

  /** Polls the pod list until `done` or the deadline; returns the last list. */
  private async waitPods(selector: string, timeoutMs: number, done: (pods: Pod[]) => boolean): Promise<Pod[]> {
    let pods: Pod[] = [];
    await waitUntil(async () => done((pods = await this.podsOf(selector))), timeoutMs, { firstMs: 250, maxMs: 2000 });
    return pods;
  }


  async status(): Promise<ServiceStatus> {
    const workload = await this.workload();
    const { container } = this.container(workload);
    const pods = await this.pods(workload);
    const waiting = pods.flatMap((p) => p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
    return {
      running: pods.length > 0,
      configuredVersion: versionOfImage(container.image),
      detail: `${this.target}: ${pods.length} pod(s), ${workload.status?.readyReplicas ?? 0}/${workload.spec?.replicas ?? 0} ready${waiting.length ? `, waiting: ${waiting.join(', ')}` : ''}`,
    };
  }

  /** The template change for `version`, made only while scaled to 0: the image and, when asked for, a startup budget. */
  private startPatch(workload: Workload, version: string): JsonPatchOp[] {
    const { index, container } = this.container(workload);
    const budget = Number(workload.metadata?.annotations?.[BUDGET_ANNOTATION] ?? 0);
    const startup = budget > 0 ? widenedStartupProbe(container, budget) : null;
    return [
      { op: 'test', path: this.containerPath(index, 'name'), value: container.name },
      { op: container.image === undefined ? 'add' : 'replace', path: this.containerPath(index, 'image'), value: imageFor(this.settings.image, version) },
      ...(startup ? [{ op: container.startupProbe ? 'replace' : 'add', path: this.containerPath(index, 'startupProbe'), value: startup } as JsonPatchOp] : []),
    ];
  }

  async start(version: string): Promise<void> {
    const workload = await this.workload();
    const selector = this.selector(workload);
    if ((await this.podsOf(selector)).length > 0) throw refusal(`${this.target} still has pods`, 'stop it first (scale to 0): the data must not be shared by two versions');
    const release = helmRelease(workload);
    if (release) {
      const chart = requireHelmChart(this.target, release, this.settings.helm);
      await runTool(helmUpgradeArgv({ release, chart, namespace: this.settings.namespace, context: this.settings.context, helm: this.settings.helm, version }), { env: this.settings.env, timeoutMs: 600_000 });
    } else {
      await this.patch(this.startPatch(workload, version));
    }
    // After a helm upgrade too: whether Helm restores the replicas synup scaled away depends on the chart.
    await runTool(this.kubectl('scale', this.target, `--replicas=${this.settings.replicas}`), { env: this.settings.env });
    const pods = await this.waitPods(selector, this.settings.podAppearMs, (list) => list.length > 0);
    if (pods.length === 0) throw new SynupError('failed', `${this.target} was scaled to ${this.settings.replicas} but no pod appeared within ${this.settings.podAppearMs / 1000} s`, { hint: `check \`kubectl -n ${this.settings.namespace} describe ${this.target}\` (quota, scheduling, PVC)` });
  }

  async stop(options: StopOptions): Promise<StopResult> {
    const started = Date.now();
    const selector = this.selector(await this.workload());
    let forced = false;
    this.nodeOfLastPod = (await this.podsOf(selector)).map((p) => p.spec?.nodeName).find(Boolean) ?? this.nodeOfLastPod;
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

  /**
   * Before any downtime, and without touching the pod template (that would roll the running pod): saves the
   * container's probes, and when its startupProbe would kill a boot shorter than health.startTimeout, records the
   * budget the next start must give it as an annotation on the workload. A Helm release without a chart to upgrade
   * with, or whose startup budget is too short (synup will not drift from the chart), is refused here.
   */
  async disableProbes(): Promise<SavedProbes> {
    const workload = await this.workload();
    const { container } = this.container(workload);
    const saved: SavedProbes = { container: container.name, probes: probesOf(container) };
    const budget = this.settings.startBudgetSeconds;
    const needsBudget = widenedStartupProbe(container, budget) !== null;
    const release = helmRelease(workload);
    if (release) {
      requireHelmChart(this.target, release, this.settings.helm);
      if (needsBudget) {
        throw refusal(`${this.target} (Helm release ${release}): its startupProbe allows ${startupBudgetSeconds(container.startupProbe)} s of boot, less than health.startTimeout (${budget} s), so the kubelet could kill a migrating Synapse`, 'raise the startupProbe (failureThreshold × periodSeconds) in the chart values, or lower health.startTimeout');
      }
      return saved;
    }
    if (needsBudget) await runTool(this.kubectl('annotate', this.target, `${BUDGET_ANNOTATION}=${budget}`, '--overwrite'), { env: this.settings.env });
    return { ...saved, budgetSeconds: needsBudget ? budget : 0 };
  }

  /**
   * Removes the budget annotation (metadata only: nothing restarts). The startup budget start gave the template stays:
   * changing the template of a running pod would roll it outside the measured downtime. The original probes are in
   * the journal (savedProbes) for an operator who wants them back at a time of their choosing.
   */
  async restoreProbes(saved: SavedProbes): Promise<void> {
    if (!saved.budgetSeconds) return;
    await runTool(this.kubectl('annotate', this.target, `${BUDGET_ANNOTATION}-`), { env: this.settings.env });
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
    const image = version ? imageFor(this.settings.image, version) : `${this.settings.image}:v{version}`;
    if (action === 'start' && this.settings.helm.chart) {
      // A Helm release (detected from the live workload at run time) is upgraded by Helm; any other by the patch below.
      const helm = helmUpgradeArgv({ release: '<release>', chart: this.settings.helm.chart, namespace: this.settings.namespace, context: this.settings.context, helm: this.settings.helm, version: version ?? '{version}' });
      return [helm, this.kubectl('scale', this.target, `--replicas=${this.settings.replicas}`)];
    }
    if (action === 'start') {
      return [
        this.kubectl('patch', this.target, '--type=json', '-p', `<JSON patch, while at 0 replicas: image ${image}, startupProbe widened to the ${BUDGET_ANNOTATION} annotation if set>`),
        this.kubectl('scale', this.target, `--replicas=${this.settings.replicas}`),
      ];
    }
    if (action === 'stop') return [this.kubectl('scale', this.target, '--replicas=0')];
    if (action === 'status') return [this.kubectl('get', this.target, '-o', 'json')];
    if (action === 'disable-probes') return [this.kubectl('annotate', this.target, `${BUDGET_ANNOTATION}=${this.settings.startBudgetSeconds}`, '--overwrite')];
    return [this.kubectl('annotate', this.target, `${BUDGET_ANNOTATION}-`)];
  }
}

/** The probes a restart decision depends on, as they were before the upgrade. */
function probesOf(container: Container): Record<string, unknown> {
  return Object.fromEntries((['startupProbe', 'livenessProbe'] as const).filter((k) => container[k] !== undefined).map((k) => [k, container[k]]));
}
