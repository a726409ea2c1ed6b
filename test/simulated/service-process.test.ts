import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { SynupError } from '../../src/errors.js';
import { readServiceVersion, waitForActive } from '../../src/health/index.js';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { findHolders } from '../../src/lmdb/holders.js';
import { createAdapter, type ServiceAdapter } from '../../src/service/index.js';
import { createSimCell, freePort, SIM_CELL_JS, startSim } from '../sim/index.js';
import { tempDir, watchLog } from '../support/helpers.js';
import { LAB, labPythonPath, labSkipReason } from '../support/lab-cortex.js';
import { waitFor } from '../support/budget.js';

const SIM_COMMAND = [process.execPath, SIM_CELL_JS, '{dir}', '--version', '{version}', '--port', '{port}'];

interface SimService {
  adapter: ServiceAdapter;
  cellDir: string;
  stateDir: string;
  port: number;
  pidFile: string;
  logFile: string;
  waitActive(): Promise<unknown>;
}

const started: ServiceAdapter[] = [];
const foreign: { stop(): Promise<unknown> }[] = [];

afterEach(async () => {
  await Promise.all(foreign.splice(0).map((s) => s.stop()));
  await Promise.all(started.splice(0).map((a) => a.stop({ timeoutMs: 3000 }).catch(() => undefined)));
});

/** A sim cell at `version` (created, not running) and a process adapter for it. */
async function simService(options: { version: string; env?: Record<string, string>; process?: Record<string, unknown> }): Promise<SimService> {
  const work = tempDir('synup-proc-');
  const cellDir = path.join(work, 'cortex00');
  const stateDir = path.join(work, 'state');
  await createSimCell(cellDir, { version: options.version });
  const port = await freePort();
  const config = configSchema.parse({
    cell: { name: 'cortex00', dir: cellDir },
    service: { adapter: 'process', process: { command: SIM_COMMAND, env: { SYN_SIM_MIGRATION_MS: '300', ...options.env }, ...options.process } },
    health: { port },
  } satisfies ConfigInput);
  const adapter = createAdapter(config, { cellDir, stateDir, cwd: work });
  started.push(adapter);
  return {
    adapter,
    cellDir,
    stateDir,
    port,
    pidFile: path.join(stateDir, 'cortex00.pid'),
    logFile: path.join(stateDir, 'cortex00.log'),
    waitActive: () => waitForActive({ host: '127.0.0.1', port, cellDir, deadlineMs: 30_000 }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

/** Polls status until the service is gone (bounded). */
async function untilStopped(adapter: ServiceAdapter): Promise<Awaited<ReturnType<ServiceAdapter['status']>>> {
  return waitFor(async () => {
    const status = await adapter.status();
    return status.running ? null : status;
  }, 'the service exits', { timeoutMs: 20_000, intervalMs: 100 });
}

/** Follows the adapter's log until a line matches `until`; returns every line seen. */
async function followUntil(adapter: ServiceAdapter, until: RegExp): Promise<string[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30_000);
  const seen: string[] = [];
  for await (const line of adapter.logs({ signal: controller.signal })) {
    seen.push(line);
    if (until.test(line)) break;
  }
  clearTimeout(timer);
  controller.abort();
  return seen;
}

describe('process adapter with a real sim cell', () => {
  it('starts it detached with a pid file and a log, serves HTTPS with its own cert, stops it gracefully', async () => {
    const sim = await simService({ version: '2.180.0' });
    await sim.adapter.start('2.180.0');
    const record = JSON.parse(readFileSync(sim.pidFile, 'utf8'));
    expect(record).toMatchObject({ version: '2.180.0', logFile: sim.logFile, logOffset: 0, pid: expect.any(Number), startedAt: expect.any(String) });
    expect(await sim.adapter.status()).toMatchObject({ running: true, pid: record.pid, configuredVersion: '2.180.0' });

    await sim.waitActive();
    expect(await readServiceVersion({ host: '127.0.0.1', port: sim.port, cellDir: sim.cellDir })).toBe('2.180.0');

    const result = await sim.adapter.stop({ timeoutMs: 10_000 });
    expect(result.forced).toBe(false);
    expect(await sim.adapter.status()).toMatchObject({ running: false, configuredVersion: '2.180.0', detail: expect.stringMatching(/^stopped at /) });
    expect(await findHolders(sim.cellDir)).toEqual([]);
    expect(JSON.parse(readFileSync(sim.pidFile, 'utf8'))).toMatchObject({ pid: record.pid, stoppedAt: expect.any(String) });
    const log = readFileSync(sim.logFile, 'utf8');
    expect(log).toContain('https listening: ' + sim.port);
    expect(log).toContain('SIGTERM: shutting down');
  });

  it('refuses a second start while its instance runs, and changes nothing', async () => {
    const sim = await simService({ version: '2.180.0' });
    await sim.adapter.start('2.180.0');
    const before = readFileSync(sim.pidFile, 'utf8');
    const error = await rejection(sim.adapter.start('2.180.0'));
    expect(error.code).toBe('refused');
    expect(error.message).toMatch(/cortex00 is already running: pid \d+ started 2\.180\.0/);
    expect(readFileSync(sim.pidFile, 'utf8')).toBe(before);
  });

  it('sees an instance it did not start through the cell.guid lock, and refuses to start a second one', async () => {
    const sim = await simService({ version: '2.180.0' });
    const other = startSim({ dir: sim.cellDir, version: '2.180.0', port: sim.port });
    foreign.push(other);
    await other.waitForLog(/cell is active/);
    expect(await sim.adapter.status()).toMatchObject({ running: true, detail: expect.stringContaining('cell.guid is locked') });
    const error = await rejection(sim.adapter.start('2.180.0'));
    expect(error.code).toBe('refused');
    expect(error.message).toContain('by an instance synup did not start');
    expect(existsSync(sim.pidFile)).toBe(false);
  });

  it('restarts, and a log follow shows only the new instance', async () => {
    const sim = await simService({ version: '2.180.0' });
    await sim.adapter.start('2.180.0');
    await sim.waitActive();
    await sim.adapter.stop({ timeoutMs: 10_000 });
    await sim.adapter.start('2.180.0');
    const lines = await followUntil(sim.adapter, /cell is active/);
    expect(lines.filter((l) => l.includes('https listening'))).toHaveLength(1);
    expect(lines.some((l) => l.includes('SIGTERM'))).toBe(false);
    expect(readFileSync(sim.logFile, 'utf8').match(/https listening/g)).toHaveLength(2);
    await sim.waitActive();
  });

  it('kills a service that ignores SIGTERM once the deadline passes', async () => {
    const sim = await simService({ version: '2.180.0', env: { SYN_SIM_FAULT: 'ignore-sigterm' } });
    await sim.adapter.start('2.180.0');
    await sim.waitActive();
    const result = await sim.adapter.stop({ timeoutMs: 300 });
    expect(result.forced).toBe(true);
    expect((await sim.adapter.status()).running).toBe(false);
    expect(await findHolders(sim.cellDir)).toEqual([]);
    expect(readFileSync(sim.logFile, 'utf8')).toContain('ignoring SIGTERM');
  });

  it('an upgrade boot: the log shows storage then model migrations; active AND migrated', async () => {
    const sim = await simService({ version: '2.180.0' });
    await sim.adapter.start('2.180.0');
    await sim.waitActive();
    await sim.adapter.stop({ timeoutMs: 10_000 });

    await sim.adapter.start('2.181.0');
    const controller = new AbortController();
    const kinds: string[] = [];
    const [state] = await Promise.all([
      watchLog(sim.adapter.logs({ signal: controller.signal }), { expectModelMigration: true, onEvent: (e) => kinds.push(e.kind) }),
      sim.waitActive(),
    ]);
    controller.abort();
    expect(state).toMatchObject({ ended: 'migrated', storageBegun: 2, storageCompleted: 2, model: 'complete', listening: true });
    expect(kinds.indexOf('storage-migration-begin')).toBeLessThan(kinds.indexOf('listening'));
    expect(kinds.at(-1)).toBe('model-migration-complete');
    expect(await readServiceVersion({ host: '127.0.0.1', port: sim.port, cellDir: sim.cellDir })).toBe('2.181.0');
    await sim.adapter.stop({ timeoutMs: 10_000 });
    expect((await readCellInfo(sim.cellDir)).cellVersion).toBe('2.181.0');
  });

  it('a crash on boot shows in status with its exit status and the exception it died of', async () => {
    const sim = await simService({ version: '2.180.0', env: { SYN_SIM_FAULT: 'crash-on-boot' } });
    await sim.adapter.start('2.180.0');
    const status = await untilStopped(sim.adapter);
    expect(status.detail).toMatch(/^pid \d+ \(2\.180\.0\) exited with status 1: synapse\.exc\.SynErr: simulated crash on boot/);
  });

  it('an older version on newer data exits with BadVersion, and the log watch says so', async () => {
    const sim = await simService({ version: '2.181.0' });
    await sim.adapter.start('2.180.0');
    const controller = new AbortController();
    const state = await watchLog(sim.adapter.logs({ signal: controller.signal }));
    controller.abort();
    expect(state).toMatchObject({ ended: 'failed', failure: expect.stringContaining('BadVersion') });
    expect((await untilStopped(sim.adapter)).detail).toContain('BadVersion');
  });

  it.each([
    ['never-active', /answers but is not active/],
    ['hang-before-active', /ECONNREFUSED/],
  ])('fault %s: running, but waitForActive fails at its deadline with the reason', async (fault, reason) => {
    const sim = await simService({ version: '2.180.0', env: { SYN_SIM_FAULT: fault } });
    await sim.adapter.start('2.180.0');
    await followUntil(sim.adapter, fault === 'never-active' ? /https listening/ : /hanging before the listener/);
    const error = await rejection(waitForActive({ host: '127.0.0.1', port: sim.port, cellDir: sim.cellDir, deadlineMs: 500 }));
    expect(error.message).toMatch(reason);
    expect((await sim.adapter.status()).running).toBe(true);
  });

  it('fault wrong-version: the service reports a version its data does not have', async () => {
    const sim = await simService({ version: '2.180.0', env: { SYN_SIM_FAULT: 'wrong-version' } });
    await sim.adapter.start('2.180.0');
    await sim.waitActive();
    expect(await readServiceVersion({ host: '127.0.0.1', port: sim.port, cellDir: sim.cellDir })).toBe('2.0.0');
  });

  it('describes the exact argv it runs', async () => {
    const sim = await simService({ version: '2.180.0' });
    expect(sim.adapter.describe('start', '2.181.0')).toEqual([[process.execPath, SIM_CELL_JS, sim.cellDir, '--version', '2.181.0', '--port', String(sim.port)]]);
    expect(sim.adapter.describe('start')).toEqual([[process.execPath, SIM_CELL_JS, sim.cellDir, '--version', '{version}', '--port', String(sim.port)]]);
    expect(sim.adapter.describe('stop')).toEqual([['kill', '-TERM', `<pid in ${sim.pidFile}>`]]);
    expect(sim.adapter.describe('disable-probes')).toEqual([]);
    expect(await sim.adapter.disableProbes()).toEqual({});
  });
});

describe('process adapter: bad input is refused before anything starts', () => {
  it.each<[string, Record<string, unknown>, string, RegExp]>([
    ['no command', { command: undefined }, '2.180.0', /service\.process\.command is not set/],
    ['an unknown placeholder', { command: [process.execPath, SIM_CELL_JS, '{dir}', '--version', '{verison}'] }, '2.180.0', /unknown placeholder \{verison\}/],
    ['a missing executable', { command: ['/nonexistent/{version}/bin/python', '-m', 'synapse.servers.cortex', '{dir}'] }, '2.180.0', /\/nonexistent\/2\.180\.0\/bin\/python is not an executable file/],
    ['a command not on PATH', { command: ['no-such-synapse-binary', '{dir}'] }, '2.180.0', /no-such-synapse-binary is not an executable file on PATH/],
    ['a version that is not one', {}, 'latest', /not a Synapse version: "latest"/],
  ])('%s', async (_name, processConfig, version, message) => {
    const sim = await simService({ version: '2.180.0', process: processConfig });
    const error = await rejection(sim.adapter.start(version));
    expect(error.code).toBe('usage');
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(message);
    expect(existsSync(sim.stateDir)).toBe(false);
  });
});

describe('process adapter: pid file and log follow', () => {
  it('does not mistake a reused pid for the service', async () => {
    const sim = await simService({ version: '2.180.0' });
    mkdirSync(sim.stateDir, { recursive: true });
    writeFileSync(sim.pidFile, JSON.stringify({ pid: process.pid, version: '2.180.0', startedAt: new Date().toISOString(), startTicks: 1, logFile: sim.logFile, logOffset: 0 }));
    expect(await sim.adapter.status()).toMatchObject({ running: false, detail: `pid ${process.pid} (2.180.0) is gone` });
  });

  it('refuses a pid file that synup did not write', async () => {
    const sim = await simService({ version: '2.180.0' });
    mkdirSync(sim.stateDir, { recursive: true });
    writeFileSync(sim.pidFile, '12345\n');
    const error = await rejection(sim.adapter.status());
    expect(error.message).toContain(`pid file ${sim.pidFile} lacks pid/version: it was not written by synup`);
  });

  it('follows appended lines from the end, cuts very long lines, and stops when aborted', async () => {
    const sim = await simService({ version: '2.180.0' });
    mkdirSync(sim.stateDir, { recursive: true });
    writeFileSync(sim.logFile, 'old line\n');
    const controller = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const line of sim.adapter.logs({ signal: controller.signal })) {
        seen.push(line);
        if (line === 'b') controller.abort();
      }
    })();
    // The follower is reading once it reports a line appended after it began: until then, append a marker again.
    await waitFor(() => seen.includes('marker') || (appendFileSync(sim.logFile, 'marker\n'), false), 'the follower reads appended lines', { intervalMs: 20 });
    appendFileSync(sim.logFile, `a\n${'x'.repeat(70_000)}\nb\n`);
    await following;
    expect(seen.filter((l) => l !== 'marker')).toEqual(['a', 'x'.repeat(65_536), 'x'.repeat(70_000 - 65_536), 'b']);
    expect(seen).not.toContain('old line');
  });
});

// A Synapse main process closes its LMDB envs within tens of ms of SIGTERM, then lingers (up to ~1 s on the lab
// Cortex, waiting on its drive workers) holding its clients' open requests. This stand-in does the same with the
// py-lmdb Synapse uses (the lab's): it opens an env of a sim cell, and on SIGTERM closes it and lingers 4 s.
const LINGERING_SERVICE = `import lmdb, os, signal, sys, time
env = lmdb.open(os.path.join(sys.argv[1], 'slabs', 'cell.lmdb'), max_dbs=16)
def stop(*_):
    env.close()
    time.sleep(4)
    print('exiting after the linger', flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('serving', flush=True)
while True:
    time.sleep(1)
`;

describe.skipIf(labSkipReason !== null)('process adapter: stop untilDataClosed (py-lmdb of the lab)', () => {
  it('does not wait out an exit once the data is closed (SIGKILL then, data intact); without it, it does', async () => {
    const lingering = { command: ['/usr/bin/python3', '-c', LINGERING_SERVICE, '{dir}'], env: { PYTHONPATH: labPythonPath(LAB!, '2.250.0') } };
    const sim = await simService({ version: '2.180.0', process: lingering });
    const before = await readCellInfo(sim.cellDir);
    const serving = async () => {
      await sim.adapter.start('2.180.0');
      await waitFor(async () => (await findHolders(sim.cellDir)).some((h) => h.kind === 'reader'), 'the drive worker holds a reader slot');
    };
    await serving();
    const cut = await sim.adapter.stop({ timeoutMs: 10_000, untilDataClosed: true });
    expect(cut).toMatchObject({ forced: false, cutShortAfterDataClosed: true });
    expect((await sim.adapter.status()).running).toBe(false);
    expect(await findHolders(sim.cellDir)).toEqual([]);
    expect(readFileSync(sim.logFile, 'utf8')).not.toContain('exiting after the linger');
    expect(await readCellInfo(sim.cellDir)).toEqual(before);

    await serving();
    const waited = await sim.adapter.stop({ timeoutMs: 10_000 });
    expect(waited.cutShortAfterDataClosed).toBeUndefined();
    expect(waited.durationMs).toBeGreaterThanOrEqual(4000);
    expect(readFileSync(sim.logFile, 'utf8')).toContain('exiting after the linger');
  });
});
