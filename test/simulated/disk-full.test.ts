import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { digestCell } from '../../src/backup/digest.js';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { createAdapter } from '../../src/service/index.js';
import type { ServiceAdapter } from '../../src/service/adapter.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { synup, tempDir } from '../support/helpers.js';
import { SIM_CHANGELOG } from '../support/upgrade-harness.js';
import { budgetSetting } from '../support/budget.js';
import { canMountTmpfs } from '../support/tmpfs.js';

const mountable = await canMountTmpfs();
if (!mountable) console.warn('skipping disk-full tests: mounting a small tmpfs needs root with CAP_SYS_ADMIN');

describe.skipIf(!mountable)('disk full during the cold defrag (a real 1 MiB-short tmpfs)', () => {
  let work: string;
  let mnt: string;
  let cellDir: string;
  let adapter: ServiceAdapter;

  beforeAll(async () => {
    // Not tempDir(): that is cleaned after each test, and this mount must live for the whole suite.
    work = mkdtempSync(path.join(os.tmpdir(), 'synup-diskfull-'));
    mnt = path.join(work, 'mnt');
    mkdirSync(mnt);
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', mnt]);
    cellDir = path.join(mnt, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 6000 });
    const port = await freePort();
    writeFileSync(path.join(work, 'synup.yaml'), [
      `cell: {dir: ${JSON.stringify(cellDir)}}`,
      `changelog: ${JSON.stringify(SIM_CHANGELOG)}`,
      'state: {dir: ./state}',
      'backup: {dir: ./backups, maxAge: 1h}',
      `service: {stopTimeout: 5s, process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}']}}`,
      `health: {port: ${port}, startTimeout: ${budgetSetting(15)}}`,
      '',
    ].join('\n'));
    adapter = createAdapter(loadConfig({ cwd: work }).config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
    await adapter.start('2.180.0');
    const backup = await synup(['backup', cellDir], { cwd: work });
    expect(backup.exitCode, backup.stderr).toBe(0);
    // Leave 1 MiB free: far less than the compacted copy needs.
    const { stdout } = await execa('df', ['--output=used', '-B1', mnt]);
    const used = Number(stdout.split('\n')[1]);
    await execa('mount', ['-o', `remount,size=${used + 1024 * 1024}`, mnt]);
  });

  afterAll(async () => {
    await adapter?.stop({ timeoutMs: 5000 }).catch(() => undefined);
    await execa('umount', [mnt], { reject: false });
    rmSync(work, { recursive: true, force: true });
  });

  it('preflight refuses for lack of space (exit 3), before any downtime', async () => {
    const result = await synup(['upgrade', '--to', '2.181.0', '-y'], { cwd: work, env: { CI: 'true' } });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/\[ERROR free-space\] .* free on the cell's filesystem, the compacted copy needs/);
    expect((await adapter.status()).running).toBe(true);
  });

  it('forced past preflight, ENOSPC in the compaction rolls back: source untouched, staging removed, old version healthy', async () => {
    await adapter.stop({ timeoutMs: 5000 });
    const before = await digestCell(cellDir);
    await adapter.start('2.180.0');
    const result = await synup(['upgrade', '--to', '2.181.0', '-y', '--ignore-preflight', 'free-space'], { cwd: work, env: { CI: 'true' } });
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/cold-defrag\] failed/);
    expect(result.stderr).toMatch(/ENOSPC|No space left|MDB_MAP_FULL|space/i);
    expect(readdirSync(mnt)).toEqual(['cortex00']);
    expect((await adapter.status()).running).toBe(true);
    expect((await readCellInfo(cellDir)).cellVersion).toBe('2.180.0');
    await adapter.stop({ timeoutMs: 5000 });
    expect(await digestCell(cellDir)).toEqual(before);
    await adapter.start('2.180.0');
  });

  it('online defrag forced past preflight: the shadow\'s backup hits ENOSPC, falls back to the cold defrag, which rolls back: nothing lost, nothing left', async () => {
    await adapter.stop({ timeoutMs: 5000 });
    const before = await digestCell(cellDir);
    // The cell as online defrag needs it: a telepath listener, a password for the shadow (and Storm) to log in with.
    writeFileSync(path.join(cellDir, 'cell.yaml'), `nexslog:en: true\ndmon:listen: tcp://127.0.0.1:${await freePort()}/\n`);
    const yaml = path.join(work, 'synup.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace("'{port}']}}", "'{port}'], env: {SYN_SIM_PASSWORD: disk-secret}}}") + 'upgrade: {defrag: online}\n');
    adapter = createAdapter(loadConfig({ cwd: work }).config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
    await adapter.start('2.180.0');
    const result = await synup(['upgrade', '--to', '2.181.0', '-y', '--ignore-preflight', 'free-space'], { cwd: work, env: { CI: 'true', SYNUP_HEALTH_PASSWORD: 'disk-secret' } });
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/\[upgrade\/shadow\] +online defrag falls back to the cold defrag: .*(ENOSPC|No space left|space)/i);
    expect(result.stderr).toMatch(/cold-defrag\] failed/);
    expect(readdirSync(mnt)).toEqual(['cortex00']);
    expect(readdirSync(path.join(cellDir, 'backups')).filter((n) => n.startsWith('synup-shadow'))).toEqual([]);
    expect((await adapter.status()).running).toBe(true);
    expect((await readCellInfo(cellDir)).cellVersion).toBe('2.180.0');
    await adapter.stop({ timeoutMs: 5000 });
    const after = await digestCell(cellDir);
    expect(after.envs).toEqual(before.envs);
    await adapter.start('2.180.0');
  });
});
