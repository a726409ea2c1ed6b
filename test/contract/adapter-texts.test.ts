// Issue 21 item 9: each adapter's plan and dry-run text says what that adapter does (Kubernetes never removes probes,
// its copy is made inside the volume; a bare process has no probes…). Plans through the CLI; the cluster's dry-run
// against the fake kubectl (test/fakes), which records that nothing but `get` ran.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeWorld } from '../fakes/index.js';
import { realChangelog, synup, tempDir } from '../support/helpers.js';

const CONFIGS: Record<string, string> = {
  process: "service: {adapter: process, process: {command: ['/opt/synapse-{version}/bin/python', -m, synapse.servers.cortex, '{dir}']}}",
  systemd: 'service: {adapter: systemd, systemd: {unit: cortex00.service}}',
  compose: 'service: {adapter: compose, compose: {file: ./compose.yaml, service: cortex}}',
  'kubernetes (data on the volume)': 'service: {adapter: kubernetes, kubernetes: {kind: deployment, name: cortex00, namespace: synapse, volume: {backupClaim: synup-backups}}}\nhealth: {check: tool}',
  'kubernetes (data: local)': 'cell: {dir: /data/cortex00}\nservice: {adapter: kubernetes, kubernetes: {kind: deployment, name: cortex00, namespace: synapse, data: local}}\nhealth: {check: tool}',
};

async function planSteps(config: string): Promise<Record<string, string>> {
  const work = tempDir();
  writeFileSync(path.join(work, 'synup.yaml'), config + '\n');
  const { exitCode, stdout, stderr } = await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', realChangelog, '--json'], { cwd: work });
  expect(exitCode, stderr).toBe(0);
  return Object.fromEntries((JSON.parse(stdout).steps as { name: string; description: string }[]).map((s) => [s.name, s.description]));
}

describe('item 9: plan text in each adapter’s own words', () => {
  it('kubernetes, data on the volume: probes never removed, the copy made inside the volume, version from the image tag', async () => {
    const steps = await planSteps(CONFIGS['kubernetes (data on the volume)']!);
    const all = Object.values(steps).join('\n');
    expect(all).not.toMatch(/are removed|synup-pre|staging dir next to the cell|slabs\/cell\.lmdb|same filesystem|lock\.mdb|Put the saved probe spec back exactly/);
    expect(steps['preflight']).toMatch(/image tag/);
    expect(steps['backup-gate']).toMatch(/backup claim.*by a Job once no pod is left/);
    expect(steps['probes-off']).toMatch(/never removed/);
    expect(steps['probes-off']).toMatch(/startupProbe/);
    expect(steps['stop']).toMatch(/0 replicas.*no pod/);
    expect(steps['cold-defrag']).toMatch(/inside the volume.*\.synup-defrag-<run>\/new/);
    expect(steps['confirm']).not.toMatch(/data's cell:info/);
    expect(steps['probes-on']).toMatch(/stays/);
    expect(steps['finish']).toMatch(/\.synup-defrag-<run>\/pre/);
  });

  it('kubernetes with data: local keeps the host defrag but never removes probes', async () => {
    const steps = await planSteps(CONFIGS['kubernetes (data: local)']!);
    expect(steps['probes-off']).toMatch(/never removed/);
    expect(steps['probes-off']).not.toMatch(/are removed/);
    expect(steps['cold-defrag']).toContain('<dir>.synup-pre-<run>');
  });

  it('process, systemd and compose each say what they do with probes', async () => {
    const proc = await planSteps(CONFIGS['process']!);
    expect(proc['probes-off']).toMatch(/^Nothing to disable: a bare process has no probes/);
    expect(proc['probes-on']).toMatch(/^Nothing to put back/);
    const systemd = await planSteps(CONFIGS['systemd']!);
    expect(systemd['probes-off']).toMatch(/drop-in .*TimeoutStartSec=infinity and WatchdogSec=0/);
    expect(systemd['probes-on']).toMatch(/drop-in is removed/);
    const compose = await planSteps(CONFIGS['compose']!);
    expect(compose['probes-off']).toMatch(/override file .*healthcheck/);
    expect(compose['probes-on']).toMatch(/healthcheck/);
    for (const steps of [proc, systemd, compose]) expect(steps['cold-defrag']).toContain('<dir>.synup-pre-<run>');
  });
});

describe('item 9: upgrade --dry-run in a cluster', () => {
  it('says what the cluster run does: no local cell lock, no slabs/cell.lmdb, no synup-pre dir, nothing but `get` run', async () => {
    const work = tempDir();
    const labels = { app: 'cortex' };
    const healthcheck = { exec: { command: ['python', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///vertex/storage/'] } };
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'cortex00', namespace: 'synapse', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'example-cortex00' } }],
            containers: [{ name: 'cortex', image: 'vertexproject/synapse-cortex:v2.180.0', volumeMounts: [{ mountPath: '/vertex/storage', name: 'data' }], startupProbe: { failureThreshold: 3, periodSeconds: 20, ...healthcheck } }],
          },
        },
      },
    };
    mkdirSync(path.join(work, 'pv'));
    const world = fakeWorld(work, {
      kube: { namespace: 'synapse', workloads: { 'deployment/cortex00': deployment }, pods: [{ metadata: { name: 'cortex00-x', labels }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } }], claims: { 'example-cortex00': path.join(work, 'pv') }, exec: { stdout: '{"status":"nominal"}\n', exitCode: 0 } },
    });
    writeFileSync(path.join(work, 'synup.yaml'), `cell: {name: cortex00}\nstate: {dir: ./state}\n${CONFIGS['kubernetes (data on the volume)']}\n`);
    const run = await synup(['upgrade', '--to', '2.182.0', '--changelog', realChangelog, '--dry-run'], { cwd: work, env: world.env as Record<string, string> });
    expect(run.exitCode, run.stderr).toBe(0);
    const text = run.stderr;
    expect(text).not.toMatch(/slabs\/cell\.lmdb|synup-pre|cell\.guid|lock\.mdb|Would lock /);
    expect(text).toMatch(/\[upgrade\/preflight\][^[]*image tag v2\.180\.0/);
    expect(text).toMatch(/\[upgrade\/probes-off\][^[]*never removed/);
    expect(text).toMatch(/\[upgrade\/stop\][^[]*no pod of deployment\/cortex00/);
    expect(text).toMatch(/\[upgrade\/finish\][^[]*\.synup-defrag-<run>\/pre/);
    expect(world.calls().every((c) => c.argv.includes('get'))).toBe(true);
  });
});
