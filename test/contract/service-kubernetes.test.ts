import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { SynupError } from '../../src/errors.js';
import { createAdapter } from '../../src/service/index.js';
import { fakeWorld } from '../fakes/index.js';
import { firstFollowed, tempDir } from '../support/helpers.js';

const STARTUP_PROBE = {
  exec: { command: ['python', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///vertex/storage'] },
  failureThreshold: 60,
  initialDelaySeconds: 10,
  periodSeconds: 10,
  timeoutSeconds: 20,
};
const LIVENESS_PROBE = { exec: { command: ['python', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///vertex/storage'] }, periodSeconds: 60, failureThreshold: 3 };
const READINESS_PROBE = { httpGet: { path: '/api/v1/active', port: 4443, scheme: 'HTTPS' }, periodSeconds: 10 };

function statefulSet(containers: Record<string, unknown>[]) {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'cortex', namespace: 'synapse' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'cortex' } },
      serviceName: 'cortex',
      template: { metadata: { labels: { app: 'cortex' } }, spec: { containers } },
    },
    status: { readyReplicas: 1 },
  };
}

const CORTEX = { name: 'cortex', image: 'vertexproject/synapse-cortex:v2.180.0', startupProbe: STARTUP_PROBE, livenessProbe: LIVENESS_PROBE, readinessProbe: READINESS_PROBE };
const POD = { metadata: { name: 'cortex-0', labels: { app: 'cortex' } }, status: { phase: 'Running' } };

interface KubeState {
  kube: { workloads: Record<string, ReturnType<typeof statefulSet>>; pods: unknown[] };
}

function setup(options: { containers?: Record<string, unknown>[]; kube?: Record<string, unknown>; k8s?: Record<string, unknown>; pods?: unknown[]; startTimeout?: string } = {}) {
  const work = tempDir('synup-k8s-');
  const cellDir = path.join(work, 'cortex00');
  mkdirSync(cellDir);
  writeFileSync(path.join(cellDir, 'cell.guid'), 'd'.repeat(32));
  const workload = statefulSet(options.containers ?? [CORTEX]);
  const world = fakeWorld(work, { kube: { namespace: 'synapse', workloads: { 'statefulset/cortex': workload }, pods: options.pods ?? [POD], logs: ['Migrating Drive Slabs', 'https listening: 4443'], ...options.kube } });
  const config = configSchema.parse({ service: { adapter: 'kubernetes', kubernetes: { name: 'cortex', namespace: 'synapse', ...options.k8s } }, health: { startTimeout: options.startTimeout ?? '5m' } });
  const adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work, env: world.env });
  const calls = () => world.calls().map((c) => [c.tool, ...c.argv]);
  const live = () => world.state<KubeState>().kube;
  return { world, adapter, calls, live, original: structuredClone(workload) };
}

const K = ['kubectl', '-n', 'synapse'];
const GET = [...K, 'get', 'statefulset/cortex', '-o', 'json'];
const PODS = [...K, 'get', 'pods', '-l', 'app=cortex', '-o', 'json'];

async function rejection(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

describe('kubernetes adapter (contract, fake kubectl)', () => {
  it('status: the workload and its pods (by the selector); version from the container image', async () => {
    const t = setup();
    expect(await t.adapter.status()).toEqual({ running: true, instance: 'pod cortex-0 restarts 0', configuredVersion: '2.180.0', detail: 'statefulset/cortex: 1 pod(s), 1/1 ready' });
    expect(t.calls()).toEqual([GET, PODS]);
  });

  it('probes: nothing in the pod template changes while a pod runs; a short startup budget becomes an annotation, start sets image + startupProbe in one patch at 0 replicas', async () => {
    // The startupProbe allows 10 + 10 × 60 = 610 s; health.startTimeout 1h needs 360 periods of 10 s.
    const t = setup({ startTimeout: '1h' });
    const saved = await t.adapter.disableProbes();
    expect(saved).toEqual({ container: 'cortex', probes: { startupProbe: STARTUP_PROBE, livenessProbe: LIVENESS_PROBE }, budgetSeconds: 3600 });
    const ANNOTATE = [...K, 'annotate', 'statefulset/cortex', 'synup.vertex.link/startup-budget-seconds=3600', '--overwrite'];
    expect(t.calls()).toEqual([GET, ANNOTATE]);
    const live = t.live().workloads['statefulset/cortex']!;
    expect(live.spec.template).toEqual(t.original.spec.template);

    await t.adapter.stop({ timeoutMs: 10_000 });
    await t.adapter.start('2.181.0');
    const patch = [
      { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'cortex' },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'vertexproject/synapse-cortex:v2.181.0' },
      { op: 'replace', path: '/spec/template/spec/containers/0/startupProbe', value: { ...STARTUP_PROBE, failureThreshold: 360 } },
    ];
    const scaleUp = t.calls().findIndex((c) => c[3] === 'scale' && c[5] === '--replicas=1');
    const templateChanges = t.calls().flatMap((c, i) => (c[3] === 'patch' || c[3] === 'set' ? [i] : []));
    expect(templateChanges).toHaveLength(1);
    expect(t.calls()[templateChanges[0]!]).toEqual([...K, 'patch', 'statefulset/cortex', '--type=json', '-p', JSON.stringify(patch)]);
    expect(templateChanges[0]).toBeLessThan(scaleUp);

    const before = t.calls().length;
    await t.adapter.restoreProbes(JSON.parse(JSON.stringify(saved)));
    expect(t.calls().slice(before)).toEqual([[...K, 'annotate', 'statefulset/cortex', 'synup.vertex.link/startup-budget-seconds-']]);
    const after = t.live().workloads['statefulset/cortex']!;
    expect(after.metadata).toEqual({ ...t.original.metadata, annotations: {} });
    expect(after.spec.template.spec.containers[0]).toEqual({ ...CORTEX, image: 'vertexproject/synapse-cortex:v2.181.0', startupProbe: { ...STARTUP_PROBE, failureThreshold: 360 } });
  });

  it('probes: a startup budget already long enough (Vertex\'s failureThreshold 2147483647) changes nothing but the image', async () => {
    const t = setup({ pods: [], containers: [{ ...CORTEX, startupProbe: { ...STARTUP_PROBE, failureThreshold: 2147483647 } }] });
    expect(await t.adapter.disableProbes()).toMatchObject({ budgetSeconds: 0 });
    await t.adapter.start('2.181.0');
    const patches = t.calls().filter((c) => c[3] === 'patch' || c[3] === 'annotate');
    expect(patches.map((c) => JSON.parse(c.at(-1)!).map((op: { path: string }) => op.path))).toEqual([['/spec/template/spec/containers/0/name', '/spec/template/spec/containers/0/image']]);
  });

  it('probes: only a livenessProbe: the new pod gets a startupProbe with its handler, so liveness waits for the boot', async () => {
    const t = setup({ pods: [], startTimeout: '30m', containers: [{ name: 'cortex', image: CORTEX.image, livenessProbe: LIVENESS_PROBE }] });
    await t.adapter.disableProbes();
    await t.adapter.start('2.181.0');
    const container = t.live().workloads['statefulset/cortex']!.spec.template.spec.containers[0]!;
    expect(container.startupProbe).toEqual({ exec: LIVENESS_PROBE.exec, periodSeconds: 60, failureThreshold: 31 });
    expect(container.livenessProbe).toEqual(LIVENESS_PROBE);
  });

  it('finds the configured container wherever it sits (a sidecar first)', async () => {
    const sidecar = { name: 'metrics', image: 'prom/exporter:1' };
    const t = setup({ containers: [sidecar, CORTEX], k8s: { container: 'cortex' }, pods: [], startTimeout: '1h' });
    await t.adapter.disableProbes();
    await t.adapter.start('2.181.0');
    const patch = JSON.parse(t.calls().find((c) => c[3] === 'patch')!.at(-1)!) as { path: string }[];
    expect(patch.map((op) => op.path)).toEqual(['/spec/template/spec/containers/1/name', '/spec/template/spec/containers/1/image', '/spec/template/spec/containers/1/startupProbe']);
    expect(t.live().workloads['statefulset/cortex']!.spec.template.spec.containers[0]).toEqual(sidecar);
  });

  it('a workload with several containers needs service.kubernetes.container', async () => {
    const t = setup({ containers: [{ name: 'metrics', image: 'prom/exporter:1' }, CORTEX] });
    const error = await rejection(t.adapter.disableProbes());
    expect(error.code).toBe('usage');
    expect(error.message).toBe('statefulset/cortex has 2 containers (metrics, cortex): synup cannot tell which is Synapse');
    expect(t.calls()).toEqual([GET]);
  });

  it('a container without those probes: nothing to patch, nothing to restore', async () => {
    const t = setup({ containers: [{ name: 'cortex', image: CORTEX.image }] });
    const saved = await t.adapter.disableProbes();
    expect(saved).toEqual({ container: 'cortex', probes: {}, budgetSeconds: 0 });
    await t.adapter.restoreProbes(saved);
    expect(t.calls()).toEqual([GET]);
  });

  it('stop: note the pod\'s node (where the volume was attached), scale to 0 and wait until the pods are gone', async () => {
    const t = setup();
    expect((await t.adapter.stop({ timeoutMs: 10_000 })).forced).toBe(false);
    expect(t.calls()).toEqual([GET, PODS, [...K, 'scale', 'statefulset/cortex', '--replicas=0'], PODS]);
    expect(t.live().pods).toEqual([]);
  });

  it('stop: pods still there at the deadline are deleted by force', async () => {
    const t = setup({ kube: { stickyPods: true } });
    expect((await t.adapter.stop({ timeoutMs: 300 })).forced).toBe(true);
    expect(t.calls().filter((c) => c[3] === 'delete')).toEqual([[...K, 'delete', 'pod', 'cortex-0', '--grace-period=0', '--force']]);
    expect(t.live().pods).toEqual([]);
  });

  it('start: one JSON patch of the image at 0 replicas, scale back, return once a pod exists', async () => {
    const t = setup({ pods: [] });
    await t.adapter.start('2.181.0');
    const patch = [
      { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'cortex' },
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'vertexproject/synapse-cortex:v2.181.0' },
    ];
    expect(t.calls()).toEqual([
      GET,
      PODS,
      [...K, 'patch', 'statefulset/cortex', '--type=json', '-p', JSON.stringify(patch)],
      [...K, 'scale', 'statefulset/cortex', '--replicas=1'],
      PODS,
    ]);
    expect((await t.adapter.status()).configuredVersion).toBe('2.181.0');
  });

  it('start: refused while pods still run', async () => {
    const t = setup();
    const error = await rejection(t.adapter.start('2.181.0'));
    expect(error.code).toBe('refused');
    expect(t.calls().some((c) => c[3] === 'patch')).toBe(false);
  });

  it('logs: kubectl logs -f <kind>/<name> -c <container>, retried while the container is not started yet', async () => {
    const t = setup({ kube: { logsFailTimes: 1 }, k8s: { container: 'cortex' } });
    const lines = await firstFollowed((signal) => t.adapter.logs({ signal }), 2);
    expect(lines).toEqual(['Migrating Drive Slabs', 'https listening: 4443']);
    const follow = [...K, 'logs', '-f', 'statefulset/cortex', '-c', 'cortex'];
    expect(t.calls()).toEqual([follow, follow]);
  });

  it('--context goes before the namespace on every call', async () => {
    const t = setup({ k8s: { context: 'prod-east' } });
    await t.adapter.status();
    expect(t.calls().every((c) => c.slice(0, 5).join(' ') === 'kubectl --context prod-east -n synapse')).toBe(true);
  });

  it('a workload that does not exist fails with kubectl\'s own words', async () => {
    const t = setup({ k8s: { name: 'cortex01' } });
    const error = await rejection(t.adapter.status());
    expect(error.code).toBe('failed');
    expect(error.message).toBe('`kubectl -n synapse get statefulset/cortex01 -o json` failed (exit 1): Error from server (NotFound): statefulsets.apps "cortex01" not found');
  });

  it('describe: the exact argv for runbooks', () => {
    const t = setup({ k8s: { container: 'cortex' } });
    expect(t.adapter.describe('start', '2.181.0')).toEqual([
      [...K, 'patch', 'statefulset/cortex', '--type=json', '-p', '<JSON patch, while at 0 replicas: image vertexproject/synapse-cortex:v2.181.0, startupProbe widened to the synup.vertex.link/startup-budget-seconds annotation if set>'],
      [...K, 'scale', 'statefulset/cortex', '--replicas=1'],
    ]);
    expect(t.adapter.describe('stop')).toEqual([[...K, 'scale', 'statefulset/cortex', '--replicas=0']]);
  });
});
