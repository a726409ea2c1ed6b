// start | stop | restart | logs | adopt and the healthcheck-tool health mode through the CLI, for the adapters
// tested by contract: the fake systemctl/journalctl, docker and kubectl from test/fakes/ answer and record argv.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Journal } from '../../src/runner/journal.js';
import { fakeWorld, type FakeWorld } from '../fakes/index.js';
import { SIM_CHANGELOG } from '../support/upgrade-harness.js';
import { createSimCell } from '../sim/index.js';
import { synup, tempDir } from '../support/helpers.js';
import { budgetSetting } from '../support/budget.js';

const HEALTHY = JSON.stringify({ status: 'nominal', iden: 'cell:///vertex/storage/', components: [] }) + '\n';
const FAILED = JSON.stringify({ status: 'failed', iden: 'cell:///vertex/storage/', components: [{ name: 'error', status: 'failed', mesg: 'Unable to connect to cell @ cell:///vertex/storage/.' }] }) + '\n';
const HEALTHCHECK = ['python', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///vertex/storage/'];

interface Setup {
  work: string;
  cellDir: string;
  world: FakeWorld;
  calls(): string[][];
  run(args: string[]): ReturnType<typeof synup>;
}

/** A real (stopped) sim cell dir at `version` as the service's volume, a synup.yaml for `service`, a fake world. */
async function setup(service: Record<string, unknown>, state: Record<string, unknown>, version = '2.181.0'): Promise<Setup> {
  const work = tempDir('synup-contract-');
  const cellDir = path.join(work, 'cortex00');
  await createSimCell(cellDir, { version });
  const world = fakeWorld(work, state);
  writeFileSync(
    path.join(work, 'synup.yaml'),
    stringify({ cell: { name: 'cortex00', dir: './cortex00' }, changelog: SIM_CHANGELOG, state: { dir: './state' }, backup: { dir: './backups', maxAge: '1h' }, service: { stopTimeout: '10s', ...service }, health: { check: 'tool', startTimeout: budgetSetting(3), tool: { timeout: budgetSetting(5) } } }),
  );
  return {
    work,
    cellDir,
    world,
    calls: () => world.calls().map((c) => [c.tool, ...c.argv]),
    run: (args) => synup(args, { cwd: work, env: { ...(world.env as Record<string, string>), CI: 'true' } }),
  };
}

const COMPOSE_FILE = 'services:\n  cortex:\n    image: vertexproject/synapse-cortex:v2.x.x\n    volumes: ["./cortex00:/vertex/storage"]\n';
const REF = 'vertexproject/synapse-cortex:v2.181.0';
const IMAGE = { Id: 'sha256:' + 'a'.repeat(64), RepoDigests: [`vertexproject/synapse-cortex@sha256:${'b'.repeat(64)}`] };

async function composeSetup(compose: Record<string, unknown>) {
  const t = await setup({ adapter: 'compose', compose: { file: 'docker-compose.yaml', service: 'cortex', project: 'syn' } }, { compose: { logs: ['one', 'two', 'three'], ...compose }, images: { [REF]: IMAGE } });
  writeFileSync(path.join(t.work, 'docker-compose.yaml'), COMPOSE_FILE);
  return t;
}

describe('compose (fake docker)', () => {
  const dc = (t: Setup, override: boolean) => ['docker', 'compose', '-f', path.join(t.work, 'docker-compose.yaml'), ...(override ? ['-f', path.join(t.work, 'docker-compose.synup.yaml')] : []), '-p', 'syn'];

  it("status: a floating tag (v2.x.x) hides no version: it comes from the data; health by `docker compose exec` of Synapse's healthcheck", async () => {
    const t = await composeSetup({ services: { cortex: { State: 'running', Image: 'vertexproject/synapse-cortex:v2.x.x' } }, exec: { stdout: HEALTHY, exitCode: 0 } });
    const result = await t.run(['status', '--json']);
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({ running: true, configuredVersion: null, dataVersion: '2.181.0', active: { active: true, detail: 'nominal' } });
    expect(status.detail).toContain('floating tag');
    expect(t.calls()).toContainEqual([...dc(t, false), 'exec', '-T', 'cortex', ...HEALTHCHECK]);
  });

  it('start runs the data\'s version (override pins the tag), waits for the healthcheck; stop; logs -n 2; restart', async () => {
    const t = await composeSetup({ services: { cortex: { State: 'exited', ExitCode: 0, Image: 'vertexproject/synapse-cortex:v2.x.x' } }, exec: { stdout: HEALTHY, exitCode: 0 } });
    const started = await t.run(['start', '--json']);
    expect(started.stderr).toBe('');
    expect(started.exitCode).toBe(0);
    expect(JSON.parse(started.stdout)).toMatchObject({ action: 'start', version: '2.181.0', cell: { adapter: 'compose' } });
    expect(t.calls()).toContainEqual([...dc(t, true), 'up', '-d', 'cortex']);
    expect(readFileSync(path.join(t.work, 'docker-compose.synup.yaml'), 'utf8')).toContain(`image: ${REF}`);

    const logs = await t.run(['logs', '-n', '2']);
    expect(logs.stdout).toBe('two\nthree');
    expect(t.calls().at(-1)).toEqual([...dc(t, true), 'logs', '--no-log-prefix', '--tail', '2', 'cortex']);

    const stopped = await t.run(['stop', '--json']);
    expect(stopped.exitCode).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    expect(t.calls()).toContainEqual([...dc(t, true), 'stop', '-t', '10', 'cortex']);

    const restarted = await t.run(['restart']);
    expect(restarted.exitCode).toBe(0);
    expect(restarted.stderr).toMatch(/^cortex00 2\.181\.0 started, active after /);
  });

  it('start fails (exit 1) when the healthcheck reports failed until health.startTimeout, with its message', async () => {
    const t = await composeSetup({ services: { cortex: { State: 'exited', ExitCode: 0, Image: REF } }, exec: { stdout: FAILED, exitCode: 1 } });
    const result = await t.run(['start']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/did not report healthy within 3.0 s .*last: failed: Unable to connect to cell/);
  });

  it('upgrade pulls the target image in preflight through a pull-only override (removed after): a missing image fails with nothing stopped', async () => {
    const t = await composeSetup({ services: { cortex: { State: 'running', Image: 'vertexproject/synapse-cortex:v2.x.x' } }, exec: { stdout: HEALTHY, exitCode: 0 }, registry: {} });
    const pullFile = path.join(t.work, 'docker-compose.synup-pull.yaml');
    const missing = await t.run(['upgrade', '--to', '2.182.0', '-y', '--backup']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/pull cortex` failed \(exit 18\): Error response from daemon: manifest for vertexproject\/synapse-cortex:v2\.182\.0 not found/);
    // nothing was stopped: the pull is part of preflight
    expect(t.calls().some((c) => c.includes('stop'))).toBe(false);
    expect(existsSync(pullFile)).toBe(false);
    expect(t.calls()).toContainEqual(['docker', 'compose', '-f', path.join(t.work, 'docker-compose.yaml'), '-f', pullFile, '-p', 'syn', 'pull', 'cortex']);
    const journal = Journal.open(path.join(t.work, 'state'));
    try {
      expect(journal.latest(t.cellDir)?.outcome).toBe('failed');
    } finally {
      await journal.close();
    }
  });

  it('the pull records the image id and digests in the journal', async () => {
    const target = 'vertexproject/synapse-cortex:v2.182.0';
    const t = await composeSetup({ services: { cortex: { State: 'running', Image: REF } }, exec: { stdout: HEALTHY, exitCode: 0 }, registry: { [target]: IMAGE } });
    // the fake container does not migrate the data, so confirm fails and the run rolls back (exit 4): the journal
    // still says which image was pulled and which one ran
    const result = await t.run(['upgrade', '--to', '2.182.0', '-y', '--backup']);
    expect(result.stderr).toMatch(/\[upgrade\/preflight\] +pulled vertexproject\/synapse-cortex:v2\.182\.0 \(vertexproject\/synapse-cortex@sha256:b{64}\)/);
    expect(result.stderr).toMatch(/the cell's data says version 2\.181\.0, expected 2\.182\.0/);
    expect(result.exitCode).toBe(4);
    const journal = Journal.open(path.join(t.work, 'state'));
    try {
      expect(journal.latest(t.cellDir)?.data.prepared).toEqual({ image: target, id: IMAGE.Id, digests: IMAGE.RepoDigests });
      expect(journal.latest(t.cellDir)?.data.runningArtifacts).toEqual({ image: target, id: IMAGE.Id, digests: IMAGE.RepoDigests });
    } finally {
      await journal.close();
    }
  });
});

describe('systemd (fake systemctl/journalctl)', () => {
  it('stop, start (the data\'s version into the EnvironmentFile), logs -n 1 via journalctl; healthcheck run locally', async () => {
    const unit = 'synapse-cortex.service';
    const t0 = tempDir('synup-hc-');
    const hc = path.join(t0, 'healthcheck.mjs');
    writeFileSync(hc, `process.stdout.write(${JSON.stringify(HEALTHY)});\n`);
    const work = tempDir('synup-systemd-env-');
    const envFile = path.join(work, 'cortex00.env');
    writeFileSync(envFile, 'SYNAPSE_VERSION=2.181.0\n');
    const t = await setup(
      { adapter: 'systemd', systemd: { unit: 'synapse-cortex', environmentFile: envFile, dropInDir: path.join(work, 'dropin') } },
      { units: { [unit]: { ActiveState: 'active', SubState: 'running', MainPID: 4242, environmentFile: envFile } }, journal: { [unit]: ['a', 'b'] } },
    );
    writeFileSync(path.join(t.work, 'synup.yaml'), readFileSync(path.join(t.work, 'synup.yaml'), 'utf8').replace('tool:\n', `tool:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(hc)}, -c, "{cell}"]\n`));
    const stopped = await t.run(['stop']);
    expect(stopped.exitCode).toBe(0);
    const started = await t.run(['start', '--json']);
    expect(started.stderr).toBe('');
    expect(JSON.parse(started.stdout)).toMatchObject({ version: '2.181.0', pid: 4242 });
    expect(t.calls()).toContainEqual(['systemctl', 'start', '--no-block', unit]);
    const logs = await t.run(['logs', '-n', '1']);
    expect(logs.stdout).toBe('b');
    expect(t.calls().at(-1)).toEqual(['journalctl', '-u', unit, '-n', '1', '-o', 'cat', '--no-pager']);
    const adopt = await t.run(['adopt']);
    expect(adopt.stderr).toMatch(/nothing to adopt: the systemd adapter manages cortex00 through its own tool/);
  });
});

describe('kubernetes (fake kubectl)', () => {
  it('status via `kubectl exec … -- python -m synapse.tools.service.healthcheck`; logs --tail', async () => {
    const cortex = { name: 'cortex', image: REF };
    const workload = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'cortex', namespace: 'synapse' }, spec: { replicas: 1, selector: { matchLabels: { app: 'cortex' } }, template: { metadata: { labels: { app: 'cortex' } }, spec: { containers: [cortex] } } }, status: { readyReplicas: 1, replicas: 1 } };
    const pod = { metadata: { name: 'cortex-0', labels: { app: 'cortex' } }, status: { phase: 'Running' } };
    const t = await setup({ adapter: 'kubernetes', kubernetes: { name: 'cortex', namespace: 'synapse' } }, { kube: { namespace: 'synapse', workloads: { 'statefulset/cortex': workload }, pods: [pod], logs: ['x', 'y', 'z'], exec: { stdout: HEALTHY, exitCode: 0 } } });
    const status = JSON.parse((await t.run(['status', '--json'])).stdout);
    expect(status).toMatchObject({ running: true, active: { active: true, detail: 'nominal' } });
    expect(t.calls()).toContainEqual(['kubectl', '-n', 'synapse', 'exec', 'statefulset/cortex', '-c', 'cortex', '--', ...HEALTHCHECK]);
    const logs = await t.run(['logs', '-n', '2']);
    expect(logs.stdout).toBe('y\nz');
    expect(t.calls().at(-1)).toEqual(['kubectl', '-n', 'synapse', 'logs', '--tail=2', 'statefulset/cortex', '-c', 'cortex']);
  });
});
