import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { Journal, type RunRecord } from '../../src/runner/journal.js';
import { createAdapter, type ServiceAdapter } from '../../src/service/index.js';
import { waitForActive } from '../../src/health/index.js';
import { fakeWorld } from '../fakes/index.js';
import { selfSignedCert, startHttpsServer } from '../fakes/https.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { synupInProcess, tempDir } from '../support/helpers.js';

const running: ServiceAdapter[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop({ timeoutMs: 5000 }).catch(() => undefined)));
});

/** A sim cell at 2.180.0 (stopped) with a synup.yaml for the process adapter. */
async function simCell(extraYaml = '') {
  const work = tempDir('synup-status-');
  const cellDir = path.join(work, 'cortex00');
  await createSimCell(cellDir, { version: '2.180.0' });
  const port = await freePort();
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {name: cortex00, dir: ./cortex00}',
      'state: {dir: ./state}',
      'service:',
      '  adapter: process',
      `  process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}']}`,
      `health: {port: ${port}}`,
      extraYaml,
      '',
    ].join('\n'),
  );
  return { work, cellDir, port, guid: readFileSync(path.join(cellDir, 'cell.guid'), 'utf8').trim() };
}

async function startIt(work: string, cellDir: string, port: number): Promise<ServiceAdapter> {
  const { config } = loadConfig({ cwd: work });
  const adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
  running.push(adapter);
  await adapter.start('2.180.0');
  await waitForActive({ host: '127.0.0.1', port, cellDir, deadlineMs: 30_000 });
  return adapter;
}

describe('synup status', () => {
  it('a stopped cell: not running, the version read from its data', async () => {
    const cell = await simCell();
    const result = await synupInProcess(['status', '--json'], { cwd: cell.work });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      cell: { name: 'cortex00', dir: cell.cellDir, guid: cell.guid },
      adapter: 'process',
      running: false,
      pid: null,
      detail: 'not started by synup',
      configuredVersion: null,
      serviceVersion: null,
      serviceVersionError: null,
      dataVersion: '2.180.0',
      dataError: null,
      active: null,
      lastRun: null,
    });
    const human = await synupInProcess(['status'], { cwd: cell.work });
    expect(human.stdout).toBe('');
    expect(human.stderr).toContain('running   no');
    expect(human.stderr).toContain('version   2.180.0 in the data');
  });

  it('a running cell: pid, configured and reported version, active over HTTPS with its pinned cert', async () => {
    const cell = await simCell();
    await startIt(cell.work, cell.cellDir, cell.port);
    const result = await synupInProcess(['status', '--json'], { cwd: cell.work });
    expect(result.exitCode).toBe(0);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({
      running: true,
      pid: expect.any(Number),
      configuredVersion: '2.180.0',
      serviceVersion: '2.180.0',
      dataVersion: '2.180.0',
      active: { active: true, detail: 'active', url: `https://127.0.0.1:${cell.port}/api/v1/active`, trust: `pinned to ${path.join(cell.cellDir, 'sslcert.pem')}` },
    });
    const human = await synupInProcess(['status'], { cwd: cell.work });
    expect(human.stderr).toMatch(/running {3}yes, pid \d+/);
    expect(human.stderr).toContain(`active    yes — https://127.0.0.1:${cell.port}/api/v1/active, certificate pinned to`);
  });

  it('a different certificate on health.port shows as not active, with the reason', async () => {
    const cell = await simCell();
    await startIt(cell.work, cell.cellDir, cell.port);
    const impostor = await startHttpsServer(await selfSignedCert(), () => ({ body: '{"status":"ok","result":{"active":true}}' }));
    try {
      const config = readFileSync(path.join(cell.work, 'synup.yaml'), 'utf8').replace(`health: {port: ${cell.port}}`, `health: {port: ${impostor.port}}`);
      writeFileSync(path.join(cell.work, 'synup.yaml'), config);
      const status = JSON.parse((await synupInProcess(['status', '--json'], { cwd: cell.work })).stdout);
      expect(status.running).toBe(true);
      expect(status.active).toMatchObject({ active: false, detail: expect.stringContaining("presents a different certificate than the cell's own") });
      expect(impostor.requests).toHaveLength(0);
    } finally {
      await impostor.close();
    }
  });

  it('shows the last run from the journal', async () => {
    const cell = await simCell();
    const journal = Journal.open(path.join(cell.work, 'state'));
    journal.create({
      id: '20250110-100000-abcd',
      cellDir: cell.cellDir,
      cellName: 'cortex00',
      from: '2.179.0',
      to: '2.180.0',
      plan: {} as RunRecord['plan'],
      startedAt: '2025-01-10T10:00:00.000Z',
      endedAt: '2025-01-10T10:05:00.000Z',
      outcome: 'done',
      steps: {},
      data: {},
      owned: [],
    });
    await journal.close();
    const status = JSON.parse((await synupInProcess(['status', '--json'], { cwd: cell.work })).stdout);
    expect(status.lastRun).toEqual({ id: '20250110-100000-abcd', from: '2.179.0', to: '2.180.0', outcome: 'done', startedAt: '2025-01-10T10:00:00.000Z', endedAt: '2025-01-10T10:05:00.000Z' });
    expect((await synupInProcess(['status'], { cwd: cell.work })).stderr).toContain('last run  20250110-100000-abcd 2.179.0 → 2.180.0 done');
  });

  it('a systemd cell (fake systemctl): running, version from the EnvironmentFile, not answering HTTPS', async () => {
    const cell = await simCell();
    const envFile = path.join(cell.work, 'cortex00.env');
    writeFileSync(envFile, 'SYNAPSE_VERSION=2.180.0\n');
    const world = fakeWorld(cell.work, { units: { 'synapse-cortex.service': { ActiveState: 'active', SubState: 'running', MainPID: 777 } } });
    const yaml = readFileSync(path.join(cell.work, 'synup.yaml'), 'utf8')
      .replace('  adapter: process', `  adapter: systemd\n  systemd: {unit: synapse-cortex, environmentFile: ${JSON.stringify(envFile)}}`)
      .replace(/ {2}process: .*\n/, '');
    writeFileSync(path.join(cell.work, 'synup.yaml'), yaml);
    const result = await synupInProcess(['status', '--json'], { cwd: cell.work, env: world.env as Record<string, string> });
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      adapter: 'systemd',
      running: true,
      pid: 777,
      configuredVersion: '2.180.0',
      detail: 'synapse-cortex.service active (running)',
      active: { active: false, detail: expect.stringContaining('ECONNREFUSED') },
    });
  });

  it('without a cell dir configured: exit 2 and what to do', async () => {
    const work = tempDir('synup-status-');
    const result = await synupInProcess(['status'], { cwd: work });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('synup: no cell dir given');
    expect(result.stderr).toContain('fix: pass --dir <cell storage dir> or set cell.dir in synup.yaml');
  });

  it('a cell dir that is not a cell: exit 3, and --json carries the error', async () => {
    const work = tempDir('synup-status-');
    mkdirSync(path.join(work, 'empty'));
    writeFileSync(path.join(work, 'synup.yaml'), 'cell: {dir: ./empty}\n');
    const result = await synupInProcess(['status', '--json'], { cwd: work });
    expect(result.exitCode).toBe(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'refused', message: expect.stringContaining('is not a Synapse cell dir: it has no cell.guid') } });
  });

  it('an unreadable pid file is reported, not a crash', async () => {
    const cell = await simCell();
    mkdirSync(path.join(cell.work, 'state'));
    writeFileSync(path.join(cell.work, 'state', 'cortex00.pid'), 'garbage');
    const result = await synupInProcess(['status'], { cwd: cell.work });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("is not synup's JSON record");
    expect(result.stderr).toContain('fix: point service.process.pidFile at a file only synup writes');
  });
});
