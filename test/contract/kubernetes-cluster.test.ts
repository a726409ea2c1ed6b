// Kubernetes for real (issue 14): volume Jobs on the cell's PVC, Helm releases, Deployment (Recreate) and
// StatefulSet, every manifest and patch also checked by the real kubectl offline. The fake kubectl runs each Job's
// container for real: docker/entrypoint.sh → `synup volume-job`, with the claims at local dirs (a sim cell).
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { SynupError } from '../../src/errors.js';
import { createAdapter } from '../../src/service/index.js';
import type { KubernetesAdapter } from '../../src/service/kubernetes.js';
import { SYNUP_VERSION } from '../../src/version.js';
import { fakeWorld } from '../fakes/index.js';
import { realChangelog, repoRoot, synup, tempDir } from '../support/helpers.js';
import { createSimCell, inspectSimCell } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';
import { budgetSetting } from '../support/budget.js';

const LABELS = { 'app.kubernetes.io/name': 'cortex', 'app.kubernetes.io/instance': 'cortex00' };
const HEALTHCHECK = { exec: { command: ['python', '-m', 'synapse.tools.healthcheck', '-c', 'cell:///vertex/storage'] } };

/** Vertex's docs/synapse/kubernetes/cortex.yaml, as the API server returns it. */
function vertexDeployment(extra: { metadata?: Record<string, unknown> } = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'cortex00', namespace: 'synapse', labels: { ...LABELS }, ...extra.metadata },
    spec: {
      replicas: 1,
      selector: { matchLabels: { ...LABELS } },
      strategy: { type: 'Recreate' },
      template: {
        metadata: { labels: { ...LABELS } },
        spec: {
          securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'example-cortex00' } }],
          containers: [
            {
              name: 'cortex',
              image: 'vertexproject/synapse-cortex:v2.180.0',
              volumeMounts: [{ mountPath: '/vertex/storage', name: 'data' }],
              startupProbe: { failureThreshold: 2147483647, timeoutSeconds: 20, periodSeconds: 20, ...HEALTHCHECK },
              readinessProbe: { failureThreshold: 2, initialDelaySeconds: 20, timeoutSeconds: 20, periodSeconds: 20, ...HEALTHCHECK },
            },
          ],
          restartPolicy: 'Always',
        },
      },
    },
  };
}

/** A StatefulSet whose claim comes from a volumeClaimTemplate, with a sidecar and a short startupProbe. */
function statefulSet() {
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'cortex', namespace: 'synapse' },
    spec: {
      replicas: 1,
      serviceName: 'cortex',
      selector: { matchLabels: { app: 'cortex' } },
      template: {
        metadata: { labels: { app: 'cortex' } },
        spec: {
          containers: [
            { name: 'metrics', image: 'prom/exporter:1' },
            {
              name: 'cortex',
              image: 'vertexproject/synapse-cortex:v2.180.0',
              securityContext: { runAsUser: 0 },
              volumeMounts: [{ mountPath: '/vertex/storage', name: 'data', subPath: 'cortex' }],
              startupProbe: { ...HEALTHCHECK, periodSeconds: 10, failureThreshold: 30 },
              livenessProbe: { ...HEALTHCHECK, periodSeconds: 60 },
            },
          ],
        },
      },
      volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } } }],
    },
  };
}

const POD = { metadata: { name: 'cortex00-5d9c-x', labels: { ...LABELS } }, spec: { nodeName: 'node-b' }, status: { phase: 'Running' } };

interface Kube {
  workloads: Record<string, ReturnType<typeof vertexDeployment>>;
  pods: unknown[];
  jobs?: Record<string, unknown>;
}

// One sim cell for the whole file (tempDir() is per test); each test copies it onto its own "claim".
const seedRoot = mkdtempSync(path.join(os.tmpdir(), 'synup-k8s-seed-'));
const seedCell = path.join(seedRoot, 'cell');
beforeAll(async () => {
  await createSimCell(seedCell, { version: '2.180.0', seed: 400 });
});
afterAll(() => rmSync(seedRoot, { recursive: true, force: true }));

async function setup(options: { workload?: Record<string, unknown>; target?: string; k8s?: Record<string, unknown>; pods?: unknown[]; helm?: unknown; startTimeout?: string } = {}) {
  const work = tempDir('synup-k8s-cluster-');
  const volume = path.join(work, 'pv-cell');
  const backups = path.join(work, 'pv-backups');
  mkdirSync(backups);
  const subPath = options.target?.startsWith('statefulset') ? 'cortex' : null;
  const cellDir = subPath ? path.join(volume, subPath) : volume;
  mkdirSync(path.dirname(cellDir), { recursive: true });
  await execa('cp', ['-a', seedCell, cellDir]);
  const target = options.target ?? 'deployment/cortex00';
  const claim = target.startsWith('statefulset') ? 'data-cortex-0' : 'example-cortex00';
  const world = fakeWorld(work, {
    kube: { namespace: 'synapse', workloads: { [target]: options.workload ?? vertexDeployment() }, pods: options.pods ?? [POD], claims: { [claim]: volume, 'synup-backups': backups } },
    helm: options.helm,
  });
  const [kind, name] = target.split('/') as ['deployment' | 'statefulset', string];
  const config = configSchema.parse({
    cell: { name: 'cortex00' },
    service: { adapter: 'kubernetes', kubernetes: { kind, name, namespace: 'synapse', volume: { backupClaim: 'synup-backups' }, ...options.k8s } },
    health: { startTimeout: options.startTimeout ?? '5m' },
  });
  // cell.dir: the cell is not here (it is on the claim); synup's local view of it does not exist.
  const adapter = createAdapter(config, { cellDir: path.join(work, 'not-here'), stateDir: path.join(work, 'state'), cwd: work, env: world.env }) as KubernetesAdapter;
  const calls = () => world.calls().map((c) => [c.tool, ...c.argv]);
  const live = () => world.state<{ kube: Kube }>().kube;
  return { work, volume, cellDir, backups, world, adapter, calls, live, manifests: path.join(work, 'state', 'kubernetes') };
}

const K = ['kubectl', '-n', 'synapse'];

async function rejection(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

// ---- the real kubectl, offline ----------------------------------------------------------------------------------

const kubectlInstalled = (await execa('kubectl', ['version', '--client'], { reject: false })).exitCode === 0;
const NO_KUBECTL = 'kubectl is not installed (Debian: apt-get install kubectl): the offline manifest checks need it';
if (!kubectlInstalled) console.warn(`skipped: ${NO_KUBECTL}`);

/** Loopback API discovery only (no objects, no OpenAPI): enough for `kubectl create --dry-run=client` to map kinds. */
let discovery: http.Server | undefined;
let discoveryUrl = '';
beforeAll(async () => {
  const resource = (kind: string, name: string) => ({ name, singularName: kind.toLowerCase(), namespaced: true, kind, verbs: ['create', 'get', 'list', 'patch', 'delete'] });
  const docs: Record<string, unknown> = {
    '/version': { major: '1', minor: '32', gitVersion: 'v1.32.0' },
    '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
    '/apis': {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: ['apps', 'batch', 'rbac.authorization.k8s.io'].map((group) => ({ name: group, versions: [{ groupVersion: `${group}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${group}/v1`, version: 'v1' } })),
    },
    '/api/v1': { kind: 'APIResourceList', groupVersion: 'v1', resources: [resource('Pod', 'pods')] },
    '/apis/apps/v1': { kind: 'APIResourceList', groupVersion: 'apps/v1', resources: [resource('Deployment', 'deployments'), resource('StatefulSet', 'statefulsets')] },
    '/apis/batch/v1': { kind: 'APIResourceList', groupVersion: 'batch/v1', resources: [resource('Job', 'jobs')] },
    '/apis/rbac.authorization.k8s.io/v1': { kind: 'APIResourceList', groupVersion: 'rbac.authorization.k8s.io/v1', resources: [resource('Role', 'roles'), resource('RoleBinding', 'rolebindings')] },
  };
  discovery = http.createServer((req, res) => {
    const doc = docs[(req.url ?? '').split('?')[0]!];
    res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(doc ?? { kind: 'Status', code: 404 }));
  });
  await new Promise<void>((resolve) => discovery!.listen(0, '127.0.0.1', resolve));
  discoveryUrl = `http://127.0.0.1:${(discovery.address() as AddressInfo).port}`;
});
afterAll(() => discovery?.close());

const kubeEnv = () => ({ ...process.env, KUBECONFIG: '/dev/null', HOME: tempDir('synup-kubectl-home-') });

/** Every leaf of `expected` is in `actual` with the same value (kubectl may add defaults like creationTimestamp). */
function expectLeaves(actual: unknown, expected: unknown, at = ''): void {
  if (expected !== null && typeof expected === 'object') {
    for (const [key, value] of Object.entries(expected)) expectLeaves((actual as Record<string, unknown>)?.[key], value, `${at}/${key}`);
  } else expect({ at, value: actual }).toEqual({ at, value: expected });
}

/**
 * The manifest through the real kubectl twice: `create --dry-run=client --validate=false` (kinds mapped by the
 * loopback discovery), and a typed round trip (`set env --local`, which decodes into the Go types: a wrong type
 * fails, an unknown field is dropped and then missing from the output).
 */
async function validateWithKubectl(file: string): Promise<void> {
  const created = await execa('kubectl', ['--server', discoveryUrl, 'create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file], { env: kubeEnv(), reject: false });
  expect(created.stderr).toBe('');
  expectLeaves(JSON.parse(created.stdout), JSON.parse(readFileSync(file, 'utf8')));
  const typed = await execa('kubectl', ['set', 'env', '--local', '-f', file, 'SYNUP_TYPED_ROUND_TRIP=1', '-o', 'json'], { env: kubeEnv(), reject: false });
  expect(typed.stderr).toBe('');
  expectLeaves(JSON.parse(typed.stdout), JSON.parse(readFileSync(file, 'utf8')));
}

/** A JSON patch as synup sent it, applied by the real kubectl to the workload as it was. */
async function patchWithKubectl(workload: unknown, patch: string): Promise<Record<string, unknown>> {
  const file = path.join(tempDir('synup-kubectl-patch-'), 'workload.json');
  writeFileSync(file, JSON.stringify(workload));
  const patched = await execa('kubectl', ['patch', '--local', '-f', file, '--type=json', '-p', patch, '-o', 'json'], { env: kubeEnv() });
  return JSON.parse(patched.stdout) as Record<string, unknown>;
}

// ---- tests --------------------------------------------------------------------------------------------------------

describe('kubernetes: the data on the PVC, through Jobs (fake kubectl runs the Job container for real)', () => {
  it('cell-info: refused while a pod runs (RWO), then a Job with the claim where Synapse mounts it reads the real cell', async () => {
    const t = await setup();
    const refused = await rejection(t.adapter.volume.cellInfo('run1'));
    expect(refused.code).toBe('refused');
    expect(refused.message).toBe('deployment/cortex00 still has 1 pod(s) (cortex00-5d9c-x): the volume job would share its ReadWriteOnce volume with a running Synapse');
    expect(t.calls().some((c) => c[3] === 'create')).toBe(false);

    await t.adapter.stop({ timeoutMs: 10_000 });
    const info = await t.adapter.volume.cellInfo('run1');
    const sim = await inspectSimCell(t.cellDir);
    expect(info).toMatchObject({ guid: sim.guid, cellVersion: '2.180.0', synapseVersion: '2.180.0' });
    expect(info.certPem).toBe(readFileSync(path.join(t.cellDir, 'sslcert.pem'), 'utf8'));

    const name = 'synup-cell-info-run1';
    const file = path.join(t.manifests, `${name}.json`);
    const jobCalls = t.calls().slice(t.calls().findIndex((c) => c[4] === 'jobs'));
    expect(jobCalls.filter((c) => c[3] !== 'get' || c[4] !== 'deployment/cortex00')).toEqual([
      [...K, 'get', 'jobs', '--field-selector', `metadata.name=${name}`, '-o', 'json'],
      [...K, 'create', '-f', file],
      [...K, 'get', `job/${name}`, '-o', 'json'],
      [...K, 'logs', `job/${name}`, '-c', 'synup'],
      [...K, 'delete', `job/${name}`, '--ignore-not-found', '--cascade=background'],
    ]);
    expect(t.live().jobs).toEqual({});
    const labels = { 'app.kubernetes.io/managed-by': 'synup', 'app.kubernetes.io/name': 'synup', 'synup.vertex.link/workload': 'cortex00', 'synup.vertex.link/op': 'cell-info' };
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name, namespace: 'synapse', labels },
      spec: {
        backoffLimit: 0,
        activeDeadlineSeconds: 21600,
        ttlSecondsAfterFinished: 86400,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
            affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-b'] }] } }] } },
            containers: [
              {
                name: 'synup',
                image: `synup/synup:${SYNUP_VERSION}`,
                imagePullPolicy: 'IfNotPresent',
                args: ['volume-job', 'cell-info'],
                env: [
                  { name: 'SYNUP_CELL_DIR', value: '/vertex/storage' },
                  { name: 'SYNUP_CELL_NAME', value: 'cortex00' },
                ],
                volumeMounts: [{ name: 'cell', mountPath: '/vertex/storage' }],
                securityContext: { allowPrivilegeEscalation: false },
              },
            ],
            volumes: [{ name: 'cell', persistentVolumeClaim: { claimName: 'example-cortex00' } }],
          },
        },
      },
    });
  });

  it('backup to the named backup claim, then the gate finds it; defrag compacts in the volume and undo puts the original back', async () => {
    const t = await setup({ pods: [] });
    const before = fileDigests(t.cellDir);
    const backup = await t.adapter.volume.backup('run2');
    expect(backup).toMatchObject({ verified: true });
    // The path is the Job's view of the backup claim; here the claim is t.backups.
    expect(path.dirname(backup.dir)).toBe(t.backups);
    expect(readdirSync(t.backups)).toEqual([path.basename(backup.dir)]);
    const gate = await t.adapter.volume.backupGate('run2', 3_600_000);
    expect(gate.backup?.dir).toBe(backup.dir);

    const data = await inspectSimCell(t.cellDir);
    const defrag = await t.adapter.volume.defrag('run2');
    expect(defrag.bytesAfter).toBeLessThan(defrag.bytesBefore);
    expect(defrag.swapped).toContain('slabs');
    expect(await inspectSimCell(t.cellDir)).toEqual(data);
    expect(existsSync(path.join(t.cellDir, '.synup-defrag-run2', 'pre', 'slabs'))).toBe(true);

    const undone = await t.adapter.volume.undoDefrag('run2');
    expect(undone.restored).toEqual(defrag.swapped);
    expect(Object.fromEntries(Object.entries(fileDigests(t.cellDir)).filter(([f]) => !f.startsWith('.synup-')))).toEqual(before);

    const backupJob = JSON.parse(readFileSync(path.join(t.manifests, 'synup-backup-run2.json'), 'utf8'));
    expect(backupJob.spec.template.spec.volumes[1]).toEqual({ name: 'backups', persistentVolumeClaim: { claimName: 'synup-backups' } });
    expect(backupJob.spec.template.spec.containers[0].env).toContainEqual({ name: 'SYNUP_BACKUP_DIR', value: '/synup/backups' });
    expect(JSON.parse(readFileSync(path.join(t.manifests, 'synup-defrag-run2.json'), 'utf8')).spec.template.spec.containers[0].args).toEqual(['volume-job', 'defrag', '--run', 'run2']);
  });

  it.skipIf(!kubectlInstalled)('every Job manifest passes the real kubectl offline (create --dry-run=client; typed round trip)', async () => {
    const t = await setup({ pods: [] });
    await t.adapter.volume.cellInfo('run3');
    await validateWithKubectl(path.join(t.manifests, 'synup-cell-info-run3.json'));
    const sts = await setup({ target: 'statefulset/cortex', workload: statefulSet(), pods: [], k8s: { container: 'cortex' } });
    for (const [op, args] of [['backup', []], ['backup-gate', ['--max-age', '86400s']], ['defrag', ['--run', 'run3']], ['undo-defrag', ['--run', 'run3']]] as const) {
      for (const adapter of [t.adapter, sts.adapter]) {
        const file = path.join(t.work, `${op}-${adapter.workloadName}.json`);
        writeFileSync(file, JSON.stringify(await adapter.volume.manifest(op, 'run3', [...args])));
        await validateWithKubectl(file);
      }
    }
  });

  it('a failing op: the Job\'s own error with its exit code; the Job is kept for kubectl describe/logs', async () => {
    const t = await setup({ pods: [] });
    const error = await rejection(t.adapter.volume.undoDefrag('never-ran'));
    expect(error.code).toBe('refused');
    // In the cluster the path reads /vertex/storage/…; the fake mounts the claim at its local dir.
    expect(error.message).toBe(`job/synup-undo-defrag-never-ran: ${t.volume}/.synup-defrag-never-ran has no synup defrag state: nothing of this run to undo`);
    expect(Object.keys(t.live().jobs ?? {})).toEqual(['synup-undo-defrag-never-ran']);
  });

  it('a Job whose pod stays Pending: deleted (foreground, waited for) before synup goes on; the error says why', async () => {
    const t = await setup({ pods: [], k8s: { volume: { backupClaim: 'synup-backups', jobStartTimeout: '1s' } } });
    const state = t.world.state<{ kube: Kube & { jobsPending?: boolean } }>();
    state.kube.jobsPending = true;
    t.world.setState(state);
    const error = await rejection(t.adapter.volume.defrag('run9'));
    expect(error.code).toBe('failed');
    expect(error.message).toBe('job/synup-defrag-run9 did not start within 1 s (deleted)');
    expect(t.calls().at(-1)).toEqual([...K, 'delete', 'job/synup-defrag-run9', '--ignore-not-found', '--cascade=foreground', '--wait=true']);
    expect(t.live().jobs).toEqual({});
    expect(existsSync(path.join(t.cellDir, '.synup-defrag-run9'))).toBe(false);
  });

  it('a Job of that name synup did not create is refused, not reused', async () => {
    const t = await setup({ pods: [] });
    const state = t.world.state<{ kube: Kube }>();
    state.kube.jobs = { 'synup-cell-info-run4': { metadata: { name: 'synup-cell-info-run4', labels: {} }, status: { succeeded: 1 } } };
    t.world.setState(state);
    const error = await rejection(t.adapter.volume.cellInfo('run4'));
    expect(error.code).toBe('refused');
    expect(error.message).toBe('job/synup-cell-info-run4 exists and was not created by synup');
    expect(t.calls().some((c) => c[3] === 'create' || c[3] === 'delete')).toBe(false);
  });

  it('no runAsUser anywhere: refused (the Job must be the user owning the files); service.kubernetes.volume.runAsUser fixes it', async () => {
    const workload = vertexDeployment();
    delete (workload.spec.template.spec as Record<string, unknown>).securityContext;
    const t = await setup({ pods: [], workload });
    const error = await rejection(t.adapter.volume.cellInfo('run5'));
    expect(error.code).toBe('refused');
    expect(error.message).toBe('deployment/cortex00 sets no runAsUser: synup cannot tell which user owns the cell\'s files');
    expect(error.hint).toContain('service.kubernetes.volume.runAsUser');
    const fixed = await setup({ pods: [], workload, k8s: { volume: { runAsUser: 0 } } });
    const manifest = await fixed.adapter.volume.manifest('cell-info', 'run5');
    expect((manifest.spec as { template: { spec: { securityContext: unknown } } }).template.spec.securityContext).toEqual({ runAsUser: 0 });
  });

  it('no backup claim: backups are refused with the setting to name', async () => {
    const t = await setup({ pods: [], k8s: { volume: {} } });
    const error = await rejection(t.adapter.volume.backup('run6'));
    expect(error.code).toBe('refused');
    expect(error.message).toBe('no backup claim named: in a cluster, backups go to a second PersistentVolumeClaim');
  });

  it('a data mount elsewhere than volume.mountPath is a usage error naming the setting', async () => {
    const t = await setup({ pods: [], k8s: { volume: { mountPath: '/data' } } });
    const error = await rejection(t.adapter.volume.cellInfo('run7'));
    expect(error.code).toBe('usage');
    expect(error.message).toBe('deployment/cortex00: container cortex mounts nothing at /data');
  });

  it('StatefulSet: the claim of its volumeClaimTemplate (data-cortex-0) with the container\'s subPath; a sidecar is left alone', async () => {
    const t = await setup({ target: 'statefulset/cortex', workload: statefulSet(), pods: [], k8s: { container: 'cortex' } });
    const info = await t.adapter.volume.cellInfo('run8');
    expect(info.cellVersion).toBe('2.180.0');
    const manifest = JSON.parse(readFileSync(path.join(t.manifests, 'synup-cell-info-run8.json'), 'utf8'));
    expect(manifest.spec.template.spec.volumes).toEqual([{ name: 'cell', persistentVolumeClaim: { claimName: 'data-cortex-0' } }]);
    expect(manifest.spec.template.spec.containers[0].volumeMounts).toEqual([{ name: 'cell', mountPath: '/vertex/storage', subPath: 'cortex' }]);
    expect(manifest.spec.template.spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, runAsUser: 0 });
    expect(manifest.spec.template.spec.affinity).toBeUndefined();
  });
});

describe('kubernetes: no surprise restarts, checked with the real kubectl patch --local', () => {
  it.skipIf(!kubectlInstalled)('Deployment (Recreate, Vertex\'s example): its infinite startupProbe needs nothing; start patches only the image while at 0', async () => {
    const t = await setup();
    const original = structuredClone(t.live().workloads['deployment/cortex00']);
    expect(await t.adapter.disableProbes()).toMatchObject({ budgetSeconds: 0 });
    await t.adapter.stop({ timeoutMs: 10_000 });
    await t.adapter.start('2.250.0');
    const patchAt = t.calls().findIndex((c) => c[3] === 'patch');
    const patched = await patchWithKubectl(original, t.calls()[patchAt]!.at(-1)!);
    expect(patched).toEqual(t.live().workloads['deployment/cortex00']);
    const changes = t.calls().filter((c) => ['patch', 'set', 'annotate', 'apply', 'replace'].includes(c[3]!));
    expect(changes).toHaveLength(1);
    const scaledToZero = t.calls().findIndex((c) => c[5] === '--replicas=0');
    const scaledUp = t.calls().findIndex((c) => c[5] === '--replicas=1');
    expect(scaledToZero).toBeGreaterThan(-1);
    expect(patchAt).toBeGreaterThan(scaledToZero);
    expect(patchAt).toBeLessThan(scaledUp);
  });

  it.skipIf(!kubectlInstalled)('StatefulSet with a sidecar and a 5-minute startup budget, health.startTimeout 1h: the widened probe goes in with the image', async () => {
    const t = await setup({ target: 'statefulset/cortex', workload: statefulSet(), k8s: { container: 'cortex' }, pods: [{ metadata: { name: 'cortex-0', labels: { app: 'cortex' } } }], startTimeout: '1h' });
    await t.adapter.disableProbes();
    const annotated = structuredClone(t.live().workloads['statefulset/cortex']);
    await t.adapter.stop({ timeoutMs: 10_000 });
    await t.adapter.start('2.250.0');
    const patched = await patchWithKubectl(annotated, t.calls().find((c) => c[3] === 'patch')!.at(-1)!);
    const containers = (patched as ReturnType<typeof statefulSet>).spec.template.spec.containers;
    expect(containers[0]).toEqual({ name: 'metrics', image: 'prom/exporter:1' });
    expect(containers[1]).toMatchObject({ image: 'vertexproject/synapse-cortex:v2.250.0', startupProbe: { ...HEALTHCHECK, periodSeconds: 10, failureThreshold: 361 }, livenessProbe: { ...HEALTHCHECK, periodSeconds: 60 } });
    expect(patched).toEqual(t.live().workloads['statefulset/cortex']);
  });
});

describe('kubernetes: Helm-managed workloads', () => {
  const helmManaged = () => vertexDeployment({ metadata: { labels: { ...LABELS, 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'cortex00', 'meta.helm.sh/release-namespace': 'synapse' } } });
  const releases = { releases: { cortex00: { workload: 'deployment/cortex00', imageKey: 'image.tag', repository: 'vertexproject/synapse-cortex' } } };

  it('without helm.chart: refused before any downtime, nothing changed in the cluster', async () => {
    const t = await setup({ workload: helmManaged(), helm: releases });
    const before = t.live();
    const error = await rejection(t.adapter.disableProbes());
    expect(error.code).toBe('refused');
    expect(error.exitCode).toBe(3);
    expect(error.message).toBe('deployment/cortex00 is managed by Helm (release cortex00): changing its image with kubectl would drift from the chart, and the next `helm upgrade` would put the old version back (Synapse then refuses to boot)');
    expect(t.calls()).toEqual([[...K, 'get', 'deployment/cortex00', '-o', 'json']]);
    expect(t.live()).toEqual(before);
  });

  it('with helm.chart: start is `helm upgrade --reuse-values --set-string image.tag=v<version>` at 0 replicas, then scale', async () => {
    const t = await setup({ workload: helmManaged(), helm: releases, k8s: { context: 'prod', helm: { chart: 'vertex/cortex', chartVersion: '0.4.2' } } });
    await t.adapter.disableProbes();
    await t.adapter.stop({ timeoutMs: 10_000 });
    await t.adapter.start('2.250.0');
    const KC = ['kubectl', '--context', 'prod', '-n', 'synapse'];
    expect(t.calls().filter((c) => c[0] === 'helm' || ['scale', 'patch', 'annotate'].includes(c[5]!))).toEqual([
      [...KC, 'scale', 'deployment/cortex00', '--replicas=0'],
      ['helm', '--kube-context', 'prod', 'upgrade', 'cortex00', 'vertex/cortex', '--namespace', 'synapse', '--reuse-values', '--version', '0.4.2', '--set-string', 'image.tag=v2.250.0'],
      [...KC, 'scale', 'deployment/cortex00', '--replicas=1'],
    ]);
    expect((await t.adapter.status()).configuredVersion).toBe('2.250.0');
  });

  it('describe (dry-run, runbooks): with helm.chart the start is the helm upgrade', async () => {
    const t = await setup({ workload: helmManaged(), helm: releases, k8s: { helm: { chart: 'vertex/cortex' } } });
    expect(t.adapter.describe('start', '2.250.0')).toEqual([
      ['helm', 'upgrade', '<release>', 'vertex/cortex', '--namespace', 'synapse', '--reuse-values', '--set-string', 'image.tag=v2.250.0'],
      [...K, 'scale', 'deployment/cortex00', '--replicas=1'],
    ]);
  });

  it('a chart whose startupProbe is shorter than health.startTimeout: refused (synup will not drift the template)', async () => {
    const workload = helmManaged();
    workload.spec.template.spec.containers[0]!.startupProbe.failureThreshold = 10;
    const t = await setup({ workload, helm: releases, k8s: { helm: { chart: 'vertex/cortex' } }, startTimeout: '1h' });
    const error = await rejection(t.adapter.disableProbes());
    expect(error.code).toBe('refused');
    expect(error.message).toBe('deployment/cortex00 (Helm release cortex00): its startupProbe allows 200 s of boot, less than health.startTimeout (3600 s), so the kubelet could kill a migrating Synapse');
    expect(t.calls().some((c) => c[0] === 'helm' || c[3] !== 'get')).toBe(false);
  });
});

describe('the image: docker/entrypoint.sh and the Dockerfile', () => {
  it('entrypoint without a mounted cell dir: one result line, exit 2, nothing run', async () => {
    const run = await execa(path.join(repoRoot, 'docker', 'entrypoint.sh'), ['volume-job', 'defrag', '--run', 'x'], { env: { PATH: process.env.PATH, SYNUP_HOME: repoRoot, SYNUP_CELL_DIR: '/nonexistent/storage' }, extendEnv: false, reject: false });
    expect(run.exitCode).toBe(2);
    expect(JSON.parse(run.stdout)).toEqual({ synupVolumeJob: 1, op: 'defrag', ok: false, error: { code: 'usage', message: 'SYNUP_CELL_DIR (/nonexistent/storage) is not a mounted directory', hint: "check the Job's volumeMounts" } });
  });

  it('entrypoint passes any other command to synup (CI use)', async () => {
    const run = await execa(path.join(repoRoot, 'docker', 'entrypoint.sh'), ['--version'], { env: { PATH: process.env.PATH, SYNUP_HOME: repoRoot }, extendEnv: false });
    expect(run.stdout.trim()).toBe(SYNUP_VERSION);
  });

  it('Dockerfile (static; built and run for real by test/containers/synup-image.test.ts): Node 22 slim, non-root, every COPY source exists, the entrypoint is the script, npm\'s cache an optional build context', () => {
    const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
    const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:(22|24)-bookworm-slim$/m);
    expect(lines.filter((l) => l.startsWith('FROM '))).toEqual(['FROM scratch AS npm-cache', 'FROM ${NODE_IMAGE} AS build', 'FROM ${NODE_IMAGE}']);
    expect(lines.filter((l) => l.includes('npm ci'))).toEqual(['RUN --mount=type=bind,from=npm-cache,target=/root/.npm,rw npm ci --ignore-scripts --prefer-offline --no-audit --no-fund']);
    const user = lines.filter((l) => l.startsWith('USER ')).at(-1);
    expect(user).toBe('USER 1000:1000');
    for (const line of lines.filter((l) => l.startsWith('COPY ') && !l.includes('--from='))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const source of sources) expect({ source, exists: existsSync(path.join(repoRoot, source)) }).toEqual({ source, exists: true });
    }
    expect(lines).toContain('ENTRYPOINT ["/opt/synup/docker/entrypoint.sh"]');
    expect(lines).toContain('COPY docker/entrypoint.sh ./docker/entrypoint.sh');
    expect(readdirSync(path.join(repoRoot, 'prebuilds')).sort()).toEqual(['linux-arm64', 'linux-x64']);
    const ignored = readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8').split('\n');
    for (const local of ['node_modules', 'dist', 'native/build']) expect(ignored).toContain(local);
  });
});

describe('synup upgrade in a cluster (CLI; fake kubectl runs the Jobs on a sim cell; health by kubectl exec)', () => {
  const HEALTHY = JSON.stringify({ status: 'nominal', iden: 'cell:///vertex/storage/', components: [] }) + '\n';
  const FAILED = JSON.stringify({ status: 'failed', iden: 'cell:///vertex/storage/', components: [{ name: 'error', status: 'failed', mesg: 'Unable to connect to cell @ cell:///vertex/storage/.' }] }) + '\n';

  async function cluster(exec: { stdout: string; exitCode: number }, execByImage?: Record<string, { stdout: string; exitCode: number }>, healthCheck = 'tool') {
    const t = await setup();
    const state = t.world.state<{ kube: Kube & { exec?: unknown; execByImage?: unknown; logs?: string[] } }>();
    state.kube.exec = exec;
    state.kube.execByImage = execByImage;
    state.kube.logs = ['Starting cortex version 2.181.0', 'cell is active (leader)'];
    t.world.setState(state);
    writeFileSync(path.join(t.work, 'synup.yaml'), [
      'cell: {name: cortex00}',
      `state: {dir: ${path.join(t.work, 'state')}}`,
      'service:',
      '  adapter: kubernetes',
      '  stopTimeout: 10s',
      '  kubernetes: {kind: deployment, name: cortex00, namespace: synapse, volume: {backupClaim: synup-backups}}',
      `health: {check: ${healthCheck}, startTimeout: ${budgetSetting(3)}}`,
      '',
    ].join('\n'));
    const upgrade = (flags = ['--backup', '-y']) => synup(['upgrade', '--to', '2.181.0', '--changelog', realChangelog, ...flags], { cwd: t.work, env: t.world.env as Record<string, string> });
    return { ...t, upgrade };
  }

  it('upgrade: stop, Jobs (cell-info, cold backup, defrag) only while no pod runs, one template patch, start; exit 0', async () => {
    const t = await cluster({ stdout: HEALTHY, exitCode: 0 });
    const data = await inspectSimCell(t.cellDir);
    const run = await t.upgrade();
    expect({ exitCode: run.exitCode, stderr: run.exitCode === 0 ? '' : run.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(t.live().workloads['deployment/cortex00']!.spec.template.spec.containers[0]!.image).toBe('vertexproject/synapse-cortex:v2.181.0');
    expect(await inspectSimCell(t.cellDir)).toEqual(data);
    expect(readdirSync(t.backups)).toHaveLength(1);
    const ops = t.calls().flatMap((c, i) => (c[3] === 'create' ? [[i, path.basename(c[5]!)]] : c[3] === 'patch' || c[3] === 'scale' ? [[i, `${c[3]} ${c[5]}`]] : []));
    expect(ops.map(([, what]) => what)).toEqual([
      'scale --replicas=0',
      expect.stringMatching(/^synup-cell-info-.*\.json$/),
      expect.stringMatching(/^synup-backup-.*\.json$/),
      expect.stringMatching(/^synup-defrag-.*\.json$/),
      'patch --type=json',
      'scale --replicas=1',
    ]);
    expect(run.stderr).toContain('defragmenting pvc/example-cortex00 of deployment/cortex00 in a Job');
    expect(t.live().jobs).toEqual({});
  });

  it('the new version never gets healthy: rolled back (exit 4), the undo-defrag Job puts the old data back, the old image runs again', async () => {
    const t = await cluster({ stdout: HEALTHY, exitCode: 0 }, { 'vertexproject/synapse-cortex:v2.181.0': { stdout: FAILED, exitCode: 1 } });
    const before = fileDigests(t.cellDir);
    const run = await t.upgrade();
    expect(run.exitCode).toBe(4);
    expect(t.live().workloads['deployment/cortex00']!.spec.template.spec.containers[0]!.image).toBe('vertexproject/synapse-cortex:v2.180.0');
    expect(t.calls().some((c) => c[3] === 'create' && c[5]!.includes('synup-undo-defrag-'))).toBe(true);
    expect(Object.fromEntries(Object.entries(fileDigests(t.cellDir)).filter(([f]) => !f.startsWith('.synup-')))).toEqual(before);
    expect(t.live().pods).toHaveLength(1);
  });

  it('no usable backup on the claim (no --backup): the gate Job refuses after the stop, so the old version is started again (exit 4), data untouched', async () => {
    const t = await cluster({ stdout: HEALTHY, exitCode: 0 });
    const before = fileDigests(t.cellDir);
    const run = await t.upgrade(['-y']);
    expect(run.exitCode).toBe(4);
    expect(run.stderr).toContain('no verified backup of this cell newer than 1 d on the backup claim');
    expect(t.calls().filter((c) => c[3] === 'create').map((c) => path.basename(c[5]!).replace(/-\d{8}-\d{6}-[0-9a-f]+\.json$/, ''))).toEqual(['synup-cell-info', 'synup-backup-gate']);
    expect(fileDigests(t.cellDir)).toEqual(before);
    expect(t.live().workloads['deployment/cortex00']!.spec.template.spec.containers[0]!.image).toBe('vertexproject/synapse-cortex:v2.180.0');
    expect(t.live().pods).toHaveLength(1);
  });

  it('health.check https in a cluster: refused in preflight (exit 3), nothing scaled, no Job', async () => {
    const t = await cluster({ stdout: HEALTHY, exitCode: 0 }, undefined, 'https');
    const run = await t.upgrade();
    expect(run.exitCode).toBe(3);
    expect(run.stderr).toContain('[ERROR health-check] health.check is https, but pvc/example-cortex00 of deployment/cortex00 is in a cluster: 127.0.0.1:4443 is not the pod, and its certificate is on the volume; nothing was stopped');
    expect(t.calls().some((c) => ['scale', 'create', 'patch', 'annotate'].includes(c[3]!))).toBe(false);
  });

  it('--dry-run: the Jobs and the one patch are named; nothing runs in the cluster', async () => {
    const t = await cluster({ stdout: HEALTHY, exitCode: 0 });
    const run = await t.upgrade(['--dry-run']);
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain("Would run Jobs on the cell's volume (synup volume-job) once the pod is gone: cell-info, the backup gate on the backup claim, defrag (compact, verify, swap inside the volume)");
    expect(run.stderr).toContain('patch deployment/cortex00 --type=json -p <JSON patch, while at 0 replicas: image vertexproject/synapse-cortex:v2.181.0');
    expect(t.calls().every((c) => c[3] === 'get')).toBe(true);
  });
});

describe.skipIf(!kubectlInstalled)('README: the RBAC synup documents', () => {
  it('the Role and RoleBinding parse with the real kubectl (create --dry-run=client)', async () => {
    const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const yaml = /```yaml\n(apiVersion: rbac[\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toContain('kind: RoleBinding');
    const file = path.join(tempDir('synup-rbac-'), 'rbac.yaml');
    writeFileSync(file, yaml!);
    const created = await execa('kubectl', ['--server', discoveryUrl, 'create', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file], { env: kubeEnv(), reject: false });
    expect(created.stderr).toBe('');
    // One pretty-printed JSON document per object, back to back.
    const items = JSON.parse(`[${created.stdout.replace(/^\}\n\{$/gm, '},{')}]`) as { kind: string; rules?: { resources: string[]; verbs: string[] }[] }[];
    expect(items.map((i) => i.kind)).toEqual(['Role', 'RoleBinding']);
    const may = (resource: string, verb: string) => items[0]!.rules!.some((r) => r.resources.includes(resource) && r.verbs.includes(verb));
    for (const [resource, verb] of [['jobs', 'create'], ['jobs', 'delete'], ['pods/log', 'get'], ['pods/exec', 'create'], ['deployments/scale', 'patch'], ['statefulsets', 'patch'], ['pods', 'list']]) {
      expect({ resource, verb, allowed: may(resource!, verb!) }).toEqual({ resource, verb, allowed: true });
    }
  });
});
