import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findExecutable } from '../../src/backup/engines.js';
import { nativeHelperPath } from '../../src/lmdb/native.js';
import { buildCell, type CellFixture } from '../support/fixtures/cell.js';
import { synup, synupInProcess, tempDir } from '../support/helpers.js';

// The CLI runs from dist/ (`npm test` builds it first).
let suite: string;
let cell: CellFixture;
let backupDir: string;

beforeAll(async () => {
  suite = mkdtempSync(path.join(os.tmpdir(), 'synup-backup-cli-'));
  cell = await buildCell(path.join(suite, 'cortex00'), { entries: 120, layers: 1 });
  backupDir = path.join(suite, 'backups', 'first');
  const made = await synupInProcess(['--json', 'backup', cell.dir, backupDir], { cwd: suite });
  expect(made.exitCode, made.stderr).toBe(0);
});
afterAll(() => rmSync(suite, { recursive: true, force: true }));

describe('synup inspect', () => {
  test('--json: every env with sizes, free pages, fragmentation and sub-dbs', async () => {
    const run = await synupInProcess(['--json', 'inspect', cell.dir], { cwd: suite });
    expect(run.exitCode, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.envs.map((e: { path: string }) => e.path).sort()).toEqual(cell.envs);
    const layer = report.envs.find((e: { path: string }) => e.path.endsWith('layer_v2.lmdb'));
    expect(layer).toMatchObject({ pageSize: 4096, fragmentation: expect.any(Number), dbs: expect.arrayContaining([expect.objectContaining({ name: 'bytag', flags: ['DUPSORT'] })]) });
    expect(report.orphans).toEqual(['layers/orphan.lmdb']);
    expect(report.compactEngine).toBe(nativeHelperPath() ? 'builtin' : findExecutable('mdb_copy') ? 'mdb_copy' : 'lmdb-js');
  });

  test('human output: a table, sub-dbs, totals and the engines', async () => {
    const run = await synupInProcess(['inspect', cell.dir], { cwd: suite });
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toMatch(/\| env +\| page \| map size/);
    expect(run.stderr).toMatch(/bytag +DUPSORT +depth/);
    expect(run.stderr).toMatch(/compaction engine \(auto\): /);
    expect(run.stdout).toBe('');
  });

  test('a missing dir is a usage error (exit 2); an env in another format is named (exit 1)', async () => {
    const missing = await synupInProcess(['inspect', path.join(suite, 'nope')], { cwd: suite });
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    const dir = tempDir();
    mkdirSync(path.join(dir, 'x.lmdb'));
    const bytes = readFileSync(path.join(cell.dir, 'slabs', 'cell.lmdb', 'data.mdb'));
    bytes.writeUInt32LE(2, 16 + 4);
    bytes.writeUInt32LE(2, 4096 + 16 + 4);
    writeFileSync(path.join(dir, 'x.lmdb', 'data.mdb'), bytes);
    const bad = await synupInProcess(['inspect', dir], { cwd: suite });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/x\.lmdb: .*data format v2/);
    expect(readdirSync(path.join(dir, 'x.lmdb'))).toEqual(['data.mdb']);
  });
});

describe('synup backup', () => {
  test('--json says which engine ran, sizes before/after and the verification', async () => {
    const dst = path.join(tempDir(), 'b');
    const run = await synupInProcess(['--json', 'backup', cell.dir, dst, '--jobs', '2'], { cwd: suite });
    expect(run.exitCode, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ ok: true, dir: dst, mode: 'live', cell: { guid: cell.guid }, verified: { ok: true } });
    expect(['builtin', 'mdb_copy', 'lmdb-js']).toContain(out.engine);
    expect(out.bytesAfter).toBeLessThan(out.bytesBefore);
    expect(existsSync(path.join(dst, 'manifest.json'))).toBe(true);
  });

  test('the default destination is <backup.dir>/<cell name>_<stamp> from synup.yaml; human output names engine and sizes', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'synup.yaml'), `cell:\n  dir: ${cell.dir}\n  name: cortex-prod\nbackup:\n  dir: ${path.join(dir, 'bk')}\n  engine: lmdb-js\n`);
    const run = await synupInProcess(['backup'], { cwd: dir });
    expect(run.exitCode, run.stderr).toBe(0);
    const [made] = readdirSync(path.join(dir, 'bk'));
    expect(made).toMatch(/^cortex-prod_\d{14}$/);
    expect(run.stderr).toMatch(/envs compacted with lmdb-js \(live, each env consistent on its own\)/);
    expect(run.stderr).toMatch(/ files: [\d.]+ [KM]iB → [\d.]+ [KM]iB on disk/);
    expect(run.stderr).toMatch(/^verified: 3 envs, \d+ sub-dbs/m);
  });

  test('without the native helper, auto falls back and says so', async () => {
    const dst = path.join(tempDir(), 'b');
    // SYNUP_NO_NATIVE is read from the process environment: a real process.
    const run = await synup(['--json', 'backup', cell.dir, dst], { cwd: suite, env: { SYNUP_NO_NATIVE: '1' } });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).engine).toBe(findExecutable('mdb_copy') ? 'mdb_copy' : 'lmdb-js');
  });

  test('bad input: no cell dir, not a cell, bad engine, bad --jobs, existing destination — each refused, nothing written', async () => {
    const cwd = tempDir();
    const noDir = await synupInProcess(['backup'], { cwd });
    expect(noDir.exitCode).toBe(2);
    expect(noDir.stderr).toMatch(/no cell dir given/);
    const notCell = await synupInProcess(['backup', cwd, path.join(cwd, 'b')], { cwd });
    expect(notCell.exitCode).toBe(3);
    expect(notCell.stderr).toMatch(/no cell\.guid/);
    const badEngine = await synupInProcess(['backup', cell.dir, path.join(cwd, 'b'), '--engine', 'tar'], { cwd });
    expect(badEngine.exitCode).toBe(2);
    expect(badEngine.stderr).toMatch(/Allowed choices are auto, mdb_copy, builtin, lmdb-js, synapse/);
    const badJobs = await synupInProcess(['backup', cell.dir, path.join(cwd, 'b'), '--jobs', '0'], { cwd });
    expect(badJobs.exitCode).toBe(2);
    expect(badJobs.stderr).toMatch(/--jobs must be a whole number ≥ 1, received "0"/);
    const noBackupDir = await synupInProcess(['--json', 'backup', cell.dir], { cwd });
    expect(noBackupDir.exitCode).toBe(2);
    expect(JSON.parse(noBackupDir.stdout).error.message).toMatch(/no backup destination/);
    expect(readdirSync(cwd)).toEqual([]);
    const exists = await synupInProcess(['backup', cell.dir, backupDir], { cwd });
    expect(exists.exitCode).toBe(3);
    expect(exists.stderr).toMatch(/already exists/);
  });
});

describe('synup verify', () => {
  test('OK, recorded in the backup; --cell of another cell names the foreign cell.guid', async () => {
    const ok = await synupInProcess(['verify', backupDir, '--against', cell.dir, '--cell', cell.dir], { cwd: suite });
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/^OK$/m);
    expect(JSON.parse(readFileSync(path.join(backupDir, 'synup-verified.json'), 'utf8'))).toMatchObject({ ok: true, problems: [] });
    const other = await buildCell(path.join(tempDir(), 'other'), { entries: 5, layers: 0, extras: false, seed: 3 });
    const foreign = await synupInProcess(['--json', 'verify', backupDir, '--cell', other.dir], { cwd: suite });
    expect(foreign.exitCode).toBe(1);
    expect(JSON.parse(foreign.stdout).problems).toEqual([expect.objectContaining({ code: 'foreign-cell' })]);
    // A mismatch with another cell is not a property of the backup: the recorded result stays ok (issue 11 item 7).
    expect(JSON.parse(readFileSync(path.join(backupDir, 'synup-verified.json'), 'utf8'))).toMatchObject({ ok: true, problems: [] });
  });

  test('a damaged copy: each problem on its own line, "N errors found", exit 1', async () => {
    const dir = path.join(tempDir(), 'b');
    cpSync(backupDir, dir, { recursive: true, verbatimSymlinks: true });
    const layer = cell.envs.find((e) => e.endsWith('layer_v2.lmdb'))!;
    truncateSync(path.join(dir, layer, 'data.mdb'), 8192);
    rmSync(path.join(dir, 'cell.yaml'));
    const run = await synupInProcess(['verify', dir], { cwd: suite });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^size-mismatch: .*layer_v2\.lmdb\/data\.mdb is 8192 bytes/m);
    expect(run.stderr).toMatch(/^missing-file: file cell\.yaml is missing$/m);
    expect(run.stderr).toMatch(/^\d+ errors found$/m);
  });

  test('not a backup: says so, exit 1, writes nothing; not a dir: exit 2', async () => {
    const dir = tempDir();
    const run = await synupInProcess(['verify', dir], { cwd: suite });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/incomplete: .*no manifest\.json/);
    expect(readdirSync(dir)).toEqual([]);
    expect((await synupInProcess(['verify', path.join(dir, 'nope')], { cwd: suite })).exitCode).toBe(2);
  });
});

describe('synup restore', () => {
  test('restores and verifies; a non-empty target is refused (exit 3) unless --replace, which keeps the old dir', async () => {
    const parent = tempDir();
    const target = path.join(parent, 'cortex00');
    const run = await synupInProcess(['--json', 'restore', backupDir, target], { cwd: suite });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, targetDir: target, movedAside: null });
    expect(readFileSync(path.join(target, 'cell.guid'), 'utf8')).toBe(cell.guid);
    const again = await synupInProcess(['restore', backupDir, target], { cwd: suite });
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toMatch(/not empty; nothing was changed\n {2}fix: pass --replace/);
    expect(readdirSync(parent)).toEqual(['cortex00']);
    const replaced = await synupInProcess(['restore', backupDir, target, '--replace'], { cwd: suite });
    expect(replaced.exitCode, replaced.stderr).toBe(0);
    expect(replaced.stderr).toMatch(/moved the old .* aside to .*cortex00\.synup-replaced-\d{14} \(kept\)/);
    expect(readdirSync(parent).sort()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-replaced-/)]);
  });

  test('missing arguments are usage errors', async () => {
    expect((await synupInProcess(['restore', backupDir], { cwd: suite })).exitCode).toBe(2);
  });
});
