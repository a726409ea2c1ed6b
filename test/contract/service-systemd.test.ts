import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { SynupError } from '../../src/errors.js';
import { createAdapter } from '../../src/service/index.js';
import { DROP_IN_MARKER } from '../../src/service/systemd.js';
import { fakeWorld } from '../fakes/index.js';
import { firstFollowed, tempDir } from '../support/helpers.js';

const UNIT = 'synapse-cortex.service';
const ENV_TEXT = '# Synapse cortex00\nSYNAPSE_VERSION=2.180.0\nSYN_CORTEX_HTTPS_PORT=4443\n';

function setup(options: { systemd?: Record<string, unknown>; unit?: Record<string, unknown> } = {}) {
  const work = tempDir('synup-systemd-');
  const cellDir = path.join(work, 'cortex00');
  mkdirSync(cellDir);
  writeFileSync(path.join(cellDir, 'cell.guid'), 'f'.repeat(32));
  const envFile = path.join(work, 'cortex00.env');
  writeFileSync(envFile, ENV_TEXT);
  chmodSync(envFile, 0o640);
  const dropInDir = path.join(work, 'system', `${UNIT}.d`);
  const world = fakeWorld(work, { units: { [UNIT]: { ActiveState: 'active', SubState: 'running', MainPID: 777, environmentFile: envFile, ...options.unit } }, journal: { [UNIT]: ['Migrating Drive Slabs', 'https listening: 4443'] } });
  const config = configSchema.parse({
    service: { adapter: 'systemd', stopTimeout: '30s', systemd: { unit: 'synapse-cortex', environmentFile: envFile, dropInDir, ...options.systemd } },
  });
  const adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work, env: world.env });
  const calls = () => world.calls().map((c) => [c.tool, ...c.argv]);
  const unit = () => world.state<{ units: Record<string, Record<string, unknown>> }>().units[UNIT]!;
  return { work, cellDir, envFile, dropInDir, world, adapter, calls, unit };
}

const SHOW = ['systemctl', 'show', UNIT, '--property=LoadState,ActiveState,SubState,MainPID,InvocationID,NRestarts'];

async function rejection(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

describe('systemd adapter (contract, fake systemctl)', () => {
  it('status: show on the unit, version from the EnvironmentFile', async () => {
    const t = setup();
    expect(await t.adapter.status()).toEqual({ running: true, pid: 777, configuredVersion: '2.180.0', detail: `${UNIT} active (running)` });
    expect(t.calls()).toEqual([SHOW]);
  });

  it('stop: --no-block, then is-active until inactive', async () => {
    const t = setup();
    const result = await t.adapter.stop({ timeoutMs: 5000 });
    expect(result.forced).toBe(false);
    expect(t.calls()).toEqual([SHOW, ['systemctl', 'stop', '--no-block', UNIT], ['systemctl', 'is-active', UNIT]]);
    expect(t.unit()).toMatchObject({ ActiveState: 'inactive' });
  });

  it('stop: a unit still active at the deadline is killed with SIGKILL', async () => {
    const t = setup({ unit: { ignoresStop: true } });
    const result = await t.adapter.stop({ timeoutMs: 200 });
    expect(result.forced).toBe(true);
    const calls = t.calls();
    expect(calls.slice(0, 3)).toEqual([SHOW, ['systemctl', 'stop', '--no-block', UNIT], ['systemctl', 'is-active', UNIT]]);
    expect(calls.slice(-2)).toEqual([['systemctl', 'kill', '--signal=SIGKILL', UNIT], ['systemctl', 'is-active', UNIT]]);
    expect(t.unit()).toMatchObject({ ActiveState: 'failed' });
  });

  it('start: rewrites only SYNAPSE_VERSION in the EnvironmentFile (mode kept), then starts without blocking', async () => {
    const t = setup({ unit: { ActiveState: 'inactive', SubState: 'dead', MainPID: 0 } });
    await t.adapter.start('2.181.0');
    expect(readFileSync(t.envFile, 'utf8')).toBe(ENV_TEXT.replace('SYNAPSE_VERSION=2.180.0', 'SYNAPSE_VERSION=2.181.0'));
    expect(statSync(t.envFile).mode & 0o777).toBe(0o640);
    expect(t.calls()).toEqual([SHOW, ['systemctl', 'reset-failed', UNIT], ['systemctl', 'start', '--no-block', UNIT]]);
    expect(t.unit()).toMatchObject({ ActiveState: 'active', startedVersion: '2.181.0' });
    expect((await t.adapter.status()).configuredVersion).toBe('2.181.0');
  });

  it('start: refused while the unit runs; the EnvironmentFile is untouched', async () => {
    const t = setup();
    const error = await rejection(t.adapter.start('2.181.0'));
    expect(error.code).toBe('refused');
    expect(error.message).toBe(`${UNIT} active (running): already running`);
    expect(readFileSync(t.envFile, 'utf8')).toBe(ENV_TEXT);
  });

  it('a boot that crash-loops under Restart= leaves the unit failed with its start limit used up: synup says so at once, and the next start (the rollback\'s) runs reset-failed first, or systemd would refuse it while `start --no-block` exits 0 (seen on systemd 252)', async () => {
    const t = setup({ unit: { ActiveState: 'inactive', SubState: 'dead', MainPID: 0, restart: 'on-failure', crashLoopVersions: ['2.181.0'] } });
    expect(await t.adapter.startedInstanceProblem!('exited')).toBeNull(); // nothing started by this adapter yet
    await t.adapter.start('2.181.0');
    expect(await t.adapter.startedInstanceProblem!('exited', { startedHere: true })).toBe(`${UNIT} that synup started is failed (failed, result exit-code)`);
    expect(t.unit()).toMatchObject({ ActiveState: 'failed', NRestarts: 5, startLimitHit: true });

    await t.adapter.start('2.180.0');
    expect(t.calls().slice(-3)).toEqual([SHOW, ['systemctl', 'reset-failed', UNIT], ['systemctl', 'start', '--no-block', UNIT]]);
    expect(t.unit()).toMatchObject({ ActiveState: 'active', startedVersion: '2.180.0', NRestarts: 0 });
    expect(t.unit().refusedStarts).toBeUndefined();
    expect(await t.adapter.startedInstanceProblem!('exited', { startedHere: true })).toBeNull();
    // every start is a new invocation: a restart behind synup's back is told from synup's own start
    const first = (await t.adapter.status()).instance;
    expect(first).toMatch(/^invocation fa4e\d+ restarts 0$/);
  });

  it('the fake refuses like systemd 252: a start of a unit whose start limit is used up does nothing (exit 0 with --no-block), reset-failed of a unit that is not failed fails', async () => {
    const t = setup({ unit: { ActiveState: 'failed', SubState: 'failed', MainPID: 0, startLimitHit: true } });
    const systemctl = (...args: string[]) => execa('systemctl', args, { env: t.world.env, reject: false });
    expect((await systemctl('start', '--no-block', UNIT)).exitCode).toBe(0);
    expect(t.unit()).toMatchObject({ ActiveState: 'failed', refusedStarts: 1 });
    expect((await systemctl('is-active', UNIT)).exitCode).toBe(3);
    expect((await systemctl('reset-failed', UNIT)).exitCode).toBe(0);
    expect((await systemctl('reset-failed', UNIT)).stderr).toBe(`Failed to reset failed state of unit ${UNIT}: Unit ${UNIT} not loaded.`);
  });

  it('start: without an EnvironmentFile synup cannot switch versions and says so', async () => {
    const t = setup({ systemd: { environmentFile: undefined } });
    const error = await rejection(t.adapter.start('2.181.0'));
    expect(error.code).toBe('usage');
    expect(error.message).toMatch(/service\.systemd\.environmentFile is not set/);
    expect(t.calls()).toEqual([]);
  });

  it('probes off: synup\'s marked drop-in lifts TimeoutStartSec/WatchdogSec; restore removes exactly it', async () => {
    const t = setup();
    const saved = await t.adapter.disableProbes();
    const dropIn = path.join(t.dropInDir, 'synup-upgrade.conf');
    expect(readFileSync(dropIn, 'utf8')).toBe(`${DROP_IN_MARKER}\n[Service]\nTimeoutStartSec=infinity\nWatchdogSec=0\n`);
    expect(saved).toEqual({ dropIn, createdDir: true, original: { TimeoutStartUSec: '1min 30s', WatchdogUSec: '0' } });
    expect(t.calls()).toEqual([['systemctl', 'show', UNIT, '--property=TimeoutStartUSec,WatchdogUSec'], ['systemctl', 'daemon-reload']]);

    await t.adapter.restoreProbes(JSON.parse(JSON.stringify(saved)));
    expect(existsSync(dropIn)).toBe(false);
    expect(existsSync(t.dropInDir)).toBe(false);
    expect(t.calls().at(-1)).toEqual(['systemctl', 'daemon-reload']);
    await t.adapter.restoreProbes(saved); // idempotent after a crash
    expect(t.world.state<{ daemonReloads: number }>().daemonReloads).toBe(3);
  });

  it('keeps the operator\'s other drop-ins and the dir it did not create', async () => {
    const t = setup();
    mkdirSync(t.dropInDir, { recursive: true });
    writeFileSync(path.join(t.dropInDir, 'override.conf'), '[Service]\nLimitNOFILE=65536\n');
    const saved = await t.adapter.disableProbes();
    expect(saved.createdDir).toBe(false);
    await t.adapter.restoreProbes(saved);
    expect(readFileSync(path.join(t.dropInDir, 'override.conf'), 'utf8')).toBe('[Service]\nLimitNOFILE=65536\n');
  });

  it('refuses to overwrite or remove a synup-upgrade.conf it did not write', async () => {
    const t = setup();
    mkdirSync(t.dropInDir, { recursive: true });
    const dropIn = path.join(t.dropInDir, 'synup-upgrade.conf');
    writeFileSync(dropIn, '[Service]\nTimeoutStartSec=5min\n');
    for (const action of [() => t.adapter.disableProbes(), () => t.adapter.restoreProbes({ dropIn })]) {
      const error = await rejection(action());
      expect(error.code).toBe('refused');
      expect(error.message).toBe(`${dropIn} exists but was not written by synup; leaving it alone`);
    }
    expect(readFileSync(dropIn, 'utf8')).toBe('[Service]\nTimeoutStartSec=5min\n');
  });

  it('--user units: every systemctl and journalctl call says --user', async () => {
    const t = setup({ systemd: { user: true }, unit: { user: true } });
    await t.adapter.stop({ timeoutMs: 5000 });
    expect(t.calls().every((c) => c[1] === '--user')).toBe(true);
    expect(t.adapter.describe('start')).toEqual([['systemctl', '--user', 'reset-failed', UNIT], ['systemctl', '--user', 'start', '--no-block', UNIT]]);
  });

  it('stamped logs: journalctl -o json (journald\'s own stamps); the bounded read without -f (issue 20)', async () => {
    const t = setup();
    const since = new Date('2025-01-10T10:00:00.700Z');
    const lines = await firstFollowed((signal) => t.adapter.stampedLogs!({ signal, since }), 2);
    expect(lines).toEqual([
      { stamp: '2025-01-10T10:00:00.000000000Z', text: 'Migrating Drive Slabs' },
      { stamp: '2025-01-10T10:00:00.001000000Z', text: 'https listening: 4443' },
    ]);
    expect(await t.adapter.logMark!(since)).toEqual({ stamp: '2025-01-10T10:00:00.001000000Z', count: 1 });
    const at = `--since=@${Math.floor(since.getTime() / 1000)}`;
    expect(t.calls()).toEqual([['journalctl', '-u', UNIT, '-f', '-o', 'json', at], ['journalctl', '-u', UNIT, '-o', 'json', at, '--no-pager']]);
  });

  it('logs: journalctl -u <unit> -f -o cat from the given moment, until aborted', async () => {
    const t = setup();
    const since = new Date('2025-01-10T10:00:00.700Z');
    const lines = await firstFollowed((signal) => t.adapter.logs({ signal, since }), 2);
    expect(lines).toEqual(['Migrating Drive Slabs', 'https listening: 4443']);
    expect(t.calls()).toEqual([['journalctl', '-u', UNIT, '-f', '-o', 'cat', `--since=@${Math.floor(since.getTime() / 1000)}`]]);
  });

  it('a unit systemd does not know is a usage error naming it', async () => {
    const t = setup({ systemd: { unit: 'nope' } });
    const error = await rejection(t.adapter.status());
    expect(error.code).toBe('usage');
    expect(error.message).toBe('systemd unit nope.service not found');
  });

  it('without systemctl on PATH the error says so', async () => {
    const t = setup();
    const adapter = createAdapter(configSchema.parse({ service: { adapter: 'systemd', systemd: { unit: UNIT } } }), { cellDir: t.cellDir, stateDir: t.work, env: { PATH: tempDir() } });
    const error = await rejection(adapter.status());
    expect(error.message).toBe('systemctl is not installed or not on PATH');
  });

  it('service.adapter systemd without service.systemd is a usage error', () => {
    expect(() => createAdapter(configSchema.parse({ service: { adapter: 'systemd' } }), { cellDir: '/tmp', stateDir: '/tmp' })).toThrow(/service\.systemd is not set/);
  });
});
