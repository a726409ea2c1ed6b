import { spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { copyCell } from '../../src/backup/copy.js';
import { createBackup } from '../../src/backup/create.js';
import { compareDigests, digestCell } from '../../src/backup/digest.js';
import { findExecutable } from '../../src/backup/engines.js';
import { findUsableBackup } from '../../src/backup/find.js';
import { MANIFEST_FILE, VERIFICATION_FILE, readManifest, readVerification } from '../../src/backup/manifest.js';
import { restoreBackup } from '../../src/backup/restore.js';
import { verifyBackup } from '../../src/backup/verify.js';
import { nativeHelperPath } from '../../src/lmdb/native.js';
import { BINARY } from '../../src/lmdb/open.js';
import { buildCell, writeEnvs, type CellFixture } from '../support/fixtures/cell.js';
import { tempDir } from '../support/helpers.js';

const suiteDirs: string[] = [];
function suiteDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'synup-backup-suite-'));
  suiteDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of suiteDirs) rmSync(dir, { recursive: true, force: true });
});

const engines = [
  ...(nativeHelperPath() ? (['builtin'] as const) : []),
  ...(findExecutable('mdb_copy') ? (['mdb_copy'] as const) : []),
  'lmdb-js' as const,
];

function listFiles(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const child = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [child + '/', ...listFiles(dir, child)] : [child];
  });
}

/** Snapshot of a dir tree (names, sizes, mtimes) to prove nothing changed. */
function treeState(dir: string): string {
  return listFiles(dir).map((f) => (f.endsWith('/') ? f : `${f} ${lstatSync(path.join(dir, f)).size} ${lstatSync(path.join(dir, f)).mtimeMs}`)).sort().join('\n');
}

/** Runs `fn` while another process keeps an env of the cell open (a live reader). */
async function whileHeld<T>(envDir: string, fn: () => Promise<T>): Promise<T> {
  const script = `const lmdb = require(${JSON.stringify(createRequire(import.meta.url).resolve('lmdb'))}); const env = lmdb.open({ path: ${JSON.stringify(envDir)}, noSubdir: false, readOnly: true, maxDbs: 8 }); env.useReadTransaction(); console.log('ready'); setTimeout(() => {}, 60000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`reader exited ${code}`)));
    });
    return await fn();
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

let cell: CellFixture;
beforeAll(async () => {
  cell = await buildCell(path.join(suiteDir(), 'cortex00'), { entries: 300, layers: 2 });
});

describe('copyCell', () => {
  test.each(engines)('engine %s: compacted, same digests, no lock.mdb, files/links/modes kept, tmp and backups left out', async (engine) => {
    const dst = path.join(tempDir(), 'copy');
    const events: string[] = [];
    const result = await copyCell({ src: cell.dir, dst, mode: 'live', engine, jobs: 2, onProgress: (e) => events.push(e.phase) });
    expect(result.engine).toBe(engine);
    expect(result.consistency).toBe(engine === 'builtin' ? 'snapshot' : 'per-env');
    expect(result.envs.map((e) => e.path).sort()).toEqual(cell.envs);
    expect(result.envs[0]!.bytesBefore).toBeGreaterThanOrEqual(result.envs.at(-1)!.bytesBefore); // largest first
    const layer = result.envs.find((e) => e.path.endsWith('layer_v2.lmdb'))!;
    expect(layer.bytesAfter).toBeLessThan(layer.bytesBefore * 0.7);
    expect(compareDigests(await digestCell(cell.dir), await digestCell(dst))).toEqual([]);
    const files = listFiles(dst);
    expect(files.filter((f) => f.endsWith('lock.mdb'))).toEqual([]);
    expect(files.some((f) => f.startsWith('tmp/') || f.startsWith('backups/') || f.includes('orphan.lmdb'))).toBe(false);
    expect(result.notes).toEqual(expect.arrayContaining([expect.stringMatching(/orphan\.lmdb.*not copied/), 'tmp/: skipped', 'backups/: skipped']));
    const sparse = statSync(path.join(dst, 'blobs', 'sparse.bin'));
    expect(sparse.size).toBe(4 * 1024 * 1024);
    expect(sparse.blocks * 512).toBeLessThan(1024 * 1024);
    expect(readFileSync(path.join(dst, 'blobs', 'sparse.bin')).equals(readFileSync(path.join(cell.dir, 'blobs', 'sparse.bin')))).toBe(true);
    expect(sparse.mode & 0o777).toBe(0o640);
    expect(statSync(path.join(dst, 'cell.yaml')).mtimeMs).toBeCloseTo(statSync(path.join(cell.dir, 'cell.yaml')).mtimeMs, 2);
    expect(readlinkSync(path.join(dst, 'first-layer'))).toBe(`layers/${cell.layerIdens[0]}`);
    expect(existsSync(path.join(dst, 'blobs', 'empty-dir'))).toBe(true);
    expect(events).toContain('copy');
  });

  test('live: a writer keeps committing during the backup, undisturbed; the backup is one consistent snapshot that verifies', async () => {
    const src = path.join(tempDir(), 'live');
    cpSync(cell.dir, src, { recursive: true, verbatimSymlinks: true });
    const layer = path.join(src, 'layers', cell.layerIdens[0]!, 'layer_v2.lmdb');
    const script = `
      const lmdb = require(${JSON.stringify(createRequire(import.meta.url).resolve('lmdb'))});
      const env = lmdb.open({ path: ${JSON.stringify(layer)}, noSubdir: false, maxDbs: 64, encoding: 'binary', keyEncoding: 'binary' });
      const db = env.openDB({ name: 'byprop', encoding: 'binary', keyEncoding: 'binary' });
      let n = 0;
      const tick = () => { env.transactionSync(() => db.putSync(Buffer.from('live:' + n), Buffer.alloc(3000, n % 256))); n++; if (n === 5) console.log('writing'); setImmediate(tick); };
      process.on('SIGTERM', () => { console.log('commits ' + n); process.exit(0); });
      tick();`;
    const writer = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    writer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    try {
      await new Promise<void>((resolve) => writer.stdout!.on('data', () => out.includes('writing') && resolve()));
      const made = await createBackup({ cellDir: src, dst: path.join(tempDir(), 'b'), mode: 'live', jobs: 2 });
      expect(made.verification!.ok).toBe(true);
      const before = Number(/commits (\d+)/.exec(out)?.[1] ?? 0);
      expect(before).toBe(0); // still running: nothing stopped it
    } finally {
      writer.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(Number(/commits (\d+)/.exec(out)![1])).toBeGreaterThan(5);
  });

  test('never writes into an existing dir, nor into a missing parent; the source is untouched', async () => {
    const before = treeState(cell.dir);
    const dst = tempDir();
    writeFileSync(path.join(dst, 'keep'), 'x');
    await expect(copyCell({ src: cell.dir, dst, mode: 'live' })).rejects.toMatchObject({ code: 'refused', message: expect.stringMatching(/already exists/) });
    expect(readdirSync(dst)).toEqual(['keep']);
    await expect(copyCell({ src: cell.dir, dst: path.join(tempDir(), 'no', 'such', 'parent'), mode: 'live' })).rejects.toMatchObject({ code: 'usage' });
    expect(treeState(cell.dir)).toBe(before);
  });

  test('cold mode refuses while a process holds an env, and creates nothing', async () => {
    const dst = path.join(tempDir(), 'cold');
    await whileHeld(path.join(cell.dir, 'slabs', 'nexus.lmdb'), async () => {
      await expect(copyCell({ src: cell.dir, dst, mode: 'cold' })).rejects.toMatchObject({ code: 'refused', message: expect.stringMatching(/cold copy refused: pid \d+ \(node, reader of .*nexus\.lmdb/) });
    });
    expect(existsSync(dst)).toBe(false);
  });

  test('an env in another LMDB format is refused before any native code opens it; nothing is created', async () => {
    const src = path.join(tempDir(), 'cell');
    cpSync(cell.dir, src, { recursive: true, verbatimSymlinks: true });
    const data = path.join(src, 'slabs', 'nexus.lmdb', 'data.mdb');
    const buf = readFileSync(data);
    buf.writeUInt32LE(2, 16 + 4);
    buf.writeUInt32LE(2, 4096 + 16 + 4);
    writeFileSync(data, buf);
    const dst = path.join(tempDir(), 'copy');
    await expect(copyCell({ src, dst, mode: 'live' })).rejects.toThrow(/nexus\.lmdb\/data\.mdb is LMDB data format v2/);
    expect(existsSync(dst)).toBe(false);
  });

  test('a cell without any env: files are copied, the backup verifies', async () => {
    const src = tempDir();
    writeFileSync(path.join(src, 'cell.guid'), 'a'.repeat(32));
    writeFileSync(path.join(src, 'cell.yaml'), 'x: 1\n');
    const made = await createBackup({ cellDir: src, dst: path.join(tempDir(), 'b'), mode: 'live' });
    expect(made.manifest.envs).toEqual([]);
    expect(made.manifest.files.map((f) => f.path)).toEqual(['cell.guid', 'cell.yaml']);
    expect(made.verification!.ok).toBe(true);
  });

  test('an unavailable engine is refused with what to install', async () => {
    const dst = path.join(tempDir(), 'x');
    await expect(copyCell({ src: cell.dir, dst, mode: 'live', engine: 'synapse', python: '/nonexistent/python3' })).rejects.toMatchObject({
      code: 'refused',
      message: expect.stringMatching(/engine synapse: \/nonexistent\/python3 cannot import synapse\.tools\.service\.backup/),
      hint: expect.stringMatching(/backup\.python/),
    });
    expect(existsSync(dst)).toBe(false);
  });
});

describe('backup, verify, find, restore', () => {
  let backupsDir: string;
  let backup: Awaited<ReturnType<typeof createBackup>>;
  beforeAll(async () => {
    backupsDir = path.join(suiteDir(), 'backups');
    backup = await createBackup({ cellDir: cell.dir, backupsDir, mode: 'live', jobs: 2, now: new Date('2026-01-02T03:04:05Z') });
  });

  /** A scratch copy of the backup to damage. */
  function damaged(): string {
    const dir = path.join(tempDir(), 'b');
    cpSync(backup.dir, dir, { recursive: true, verbatimSymlinks: true });
    return dir;
  }

  const layerEnv = () => backup.manifest.envs.find((e) => e.path.endsWith('layer_v2.lmdb'))!;

  test('the backup: compacted copy, manifest written last with cell identity and per sub-db digests, verified and recorded', async () => {
    expect(path.basename(backup.dir)).toBe('cortex00_20260102030405');
    const m = backup.manifest;
    expect(m).toMatchObject({ format: 'synup-backup/1', mode: 'live', cell: { guid: cell.guid, cellVersion: '2.181.0', synapseVersion: '2.181.0' } });
    expect(m.engine).toBe(engines[0]);
    if (m.engine === 'builtin') expect(m.digestOf).toBe('snapshot');
    const bytag = layerEnv().dbs.find((d) => d.name === 'bytag')!;
    expect(bytag.flags).toEqual(['DUPSORT']);
    expect(bytag.entries).toBeGreaterThan(300);
    expect(m.files.find((f) => f.path === 'cell.guid')!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(backup.verification).toMatchObject({ ok: true, problems: [], recorded: true });
    expect(await readVerification(backup.dir)).toMatchObject({ ok: true, manifestChecksum: m.checksum });
    expect(listFiles(backup.dir).filter((f) => f.endsWith('lock.mdb'))).toEqual([]); // verify left no lock files
    expect((await readManifest(backup.dir)).ok).toBe(true);
  });

  test('a second backup in the same second gets its own name (-2), not a raw EEXIST', async () => {
    const dir = path.join(tempDir(), 'backups');
    const now = new Date('2026-01-02T03:04:05Z');
    const first = await createBackup({ cellDir: cell.dir, backupsDir: dir, mode: 'live', jobs: 2, verify: false, now });
    const second = await createBackup({ cellDir: cell.dir, backupsDir: dir, mode: 'live', jobs: 2, verify: false, now });
    expect([path.basename(first.dir), path.basename(second.dir)]).toEqual(['cortex00_20260102030405', 'cortex00_20260102030405-2']);
  });

  test('mdb_stat (LMDB 0.9.x from lmdb-utils) reads the backup: same sub-dbs and entries as the manifest', async (ctx) => {
    const mdbStat = findExecutable('mdb_stat');
    if (!mdbStat) return ctx.skip('mdb_stat not installed (lmdb-utils)');
    for (const env of backup.manifest.envs) {
      const copy = path.join(tempDir(), 'env'); // mdb_stat creates a lock.mdb: never in the backup itself
      cpSync(path.join(backup.dir, env.path), copy, { recursive: true });
      const { stdout } = await execa(mdbStat, ['-e', '-a', copy]);
      const entries = Object.fromEntries([...stdout.matchAll(/Status of (.+)\n(?:.*\n)*?\s+Entries: (\d+)/g)].map((m) => [m[1], Number(m[2])]));
      expect(entries['Main DB']).toBe(env.dbs.length);
      for (const db of env.dbs) expect(entries[db.name], `${env.path} ${db.name}`).toBe(db.entries);
      expect(/Number of pages used: (\d+)/.exec(stdout)![1]).toBe(String(env.pages));
    }
  });

  test('verify --against the stopped source: OK; then a changed source is named by env and sub-db', async () => {
    expect((await verifyBackup(backup.dir, { against: cell.dir, cellDir: cell.dir, record: false })).problems).toEqual([]);
    const changed = path.join(tempDir(), 'cell');
    cpSync(cell.dir, changed, { recursive: true, verbatimSymlinks: true });
    writeEnvs([{ dir: path.join(changed, 'layers', cell.layerIdens[0]!, 'layer_v2.lmdb'), txns: [[['byprop', 'put', Buffer.from('inet:ipv4:new'), Buffer.from('buid')]]] }]);
    const report = await verifyBackup(backup.dir, { against: changed, record: false });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code: 'entry-count', db: 'byprop', message: expect.stringMatching(/^against .*byprop" has \d+ entries, expected \d+/) })]);
  });

  test('a flipped byte in a value page: named as changed bytes and as the sub-db whose content differs', async () => {
    const dir = damaged();
    const env = layerEnv();
    const file = path.join(dir, env.path, 'data.mdb');
    // find a 20000-byte value (overflow pages) of bybuid in the file and flip one of its bytes
    const { open } = await import('lmdb');
    const reader = open({ path: path.join(cell.dir, env.path), noSubdir: false, readOnly: true, maxDbs: 8, ...BINARY });
    const value = [...reader.openDB({ name: 'bybuid', ...BINARY }).getRange({})].map((e) => e.value as Buffer).find((v) => v.length === 20000)!;
    await reader.close();
    const bytes = readFileSync(file);
    const at = bytes.indexOf(value.subarray(0, 64));
    expect(at).toBeGreaterThan(0);
    bytes[at + 100] ^= 0xff;
    writeFileSync(file, bytes);
    for (const engine of nativeHelperPath() ? (['native', 'lmdb-js'] as const) : (['lmdb-js'] as const)) {
      const report = await verifyBackup(dir, { engine, record: false });
      expect(report.ok, JSON.stringify(report.problems)).toBe(false);
      expect(report.problems[0]).toMatchObject({ code: 'bytes-changed', env: env.path });
      if (engine === 'native') expect(report.problems[1]).toMatchObject({ code: 'digest-mismatch', env: env.path, db: 'bybuid' });
      else expect(report.problems[0]!.message).toMatch(/not opened with lmdb-js/);
    }
  });

  test('damaged page headers crash LMDB: contained in the helper process and named by env, the other envs still checked', async (ctx) => {
    if (!nativeHelperPath()) return ctx.skip('native helper not built');
    const dir = damaged();
    const env = layerEnv();
    const file = path.join(dir, env.path, 'data.mdb');
    const bytes = readFileSync(file);
    for (let page = 2; page * 4096 + 16 < bytes.length; page += 13) bytes.writeUInt16LE(0x7fff, page * 4096 + 12); // mp_lower
    writeFileSync(file, bytes);
    const report = await verifyBackup(dir, { record: false });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'env-unreadable', env: env.path, message: expect.stringMatching(/LMDB crashed reading it \(SIG(SEGV|BUS)\)/) }),
    ]);
    expect(report.checked.envs).toBe(backup.manifest.envs.length - 1);
  });

  test('a truncated data.mdb, a missing env and an extra env are each named', async () => {
    const dir = damaged();
    const env = layerEnv();
    truncateSync(path.join(dir, env.path, 'data.mdb'), env.bytes - 3 * 4096);
    rmSync(path.join(dir, 'slabs', 'nexus.lmdb'), { recursive: true });
    cpSync(path.join(dir, 'slabs', 'cell.lmdb'), path.join(dir, 'slabs', 'extra.lmdb'), { recursive: true });
    const report = await verifyBackup(dir);
    const codes = report.problems.map((p) => `${p.code} ${p.env}`);
    expect(codes).toEqual(expect.arrayContaining([
      `size-mismatch ${env.path}`,
      `env-unreadable ${env.path}`,
      'missing-env slabs/nexus.lmdb',
      'extra-env slabs/extra.lmdb',
    ]));
    expect(report.problems.find((p) => p.code === 'env-unreadable')!.message).toMatch(/truncated/);
    expect(await readVerification(dir)).toMatchObject({ ok: false }); // recorded: the gate will refuse it
  });

  test('a foreign cell.guid, a changed file and a tampered manifest are each named', async () => {
    const other = await buildCell(path.join(tempDir(), 'other'), { entries: 10, layers: 0, extras: false, seed: 7 });
    const foreign = await verifyBackup(backup.dir, { cellDir: other.dir, record: false });
    expect(foreign.problems).toEqual([expect.objectContaining({ code: 'foreign-cell', message: expect.stringContaining(other.guid) })]);

    const dir = damaged();
    writeFileSync(path.join(dir, 'cell.yaml'), 'aha:name: cortex01\nnexslog:en: true\n');
    expect((await verifyBackup(dir)).problems).toEqual([expect.objectContaining({ code: 'file-changed', file: 'cell.yaml' })]);

    const manifestFile = path.join(dir, MANIFEST_FILE);
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').replace(/"entries": (\d+)/, (_, n) => `"entries": ${Number(n) + 1}`));
    const before = readFileSync(path.join(dir, VERIFICATION_FILE), 'utf8');
    const tampered = await verifyBackup(dir);
    expect(tampered.problems).toEqual([expect.objectContaining({ code: 'manifest-tampered' })]);
    expect(tampered.recorded).toBe(false);
    expect(readFileSync(path.join(dir, VERIFICATION_FILE), 'utf8')).toBe(before);
  });

  test('findUsableBackup: the newest verified backup of this cell, every other rejected with its reason', async () => {
    const dir = path.join(tempDir(), 'backups');
    mkdirSync(dir);
    const at = (name: string) => path.join(dir, name);
    cpSync(backup.dir, at('good'), { recursive: true, verbatimSymlinks: true });
    cpSync(backup.dir, at('tampered'), { recursive: true, verbatimSymlinks: true });
    writeFileSync(path.join(at('tampered'), MANIFEST_FILE), readFileSync(path.join(at('tampered'), MANIFEST_FILE), 'utf8').replace('"live"', '"cold"'));
    cpSync(backup.dir, at('incomplete'), { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(at('incomplete'), MANIFEST_FILE));
    cpSync(backup.dir, at('unverified'), { recursive: true, verbatimSymlinks: true });
    rmSync(path.join(at('unverified'), VERIFICATION_FILE));
    cpSync(backup.dir, at('shrunk'), { recursive: true, verbatimSymlinks: true });
    truncateSync(path.join(at('shrunk'), 'cell.yaml'), 3);
    const created = Date.parse(backup.manifest.createdAt);
    const found = await findUsableBackup({ backupsDir: dir, cellGuid: cell.guid, cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 3_600_000, now: new Date(created + 60_000) });
    expect(found.backup).toMatchObject({ dir: at('good'), ageMs: 60_000 });
    const reasons = Object.fromEntries(found.rejected.map((r) => [path.basename(r.dir), r.reason]));
    expect(reasons).toEqual({
      tampered: expect.stringMatching(/manifest tampered/),
      incomplete: expect.stringMatching(/^incomplete/),
      unverified: expect.stringMatching(/^unverified/),
      shrunk: expect.stringMatching(/^changed since verification: cell\.yaml/),
    });
    const old = await findUsableBackup({ backupsDir: dir, cellGuid: cell.guid, cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 3_600_000, now: new Date(created + 2 * 86_400_000) });
    expect(old.backup).toBeNull();
    expect(old.rejected.find((r) => r.dir === at('good'))!.reason).toMatch(/^too old: /);
    const foreign = await findUsableBackup({ backupsDir: dir, cellGuid: 'f'.repeat(32), cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 3_600_000, now: new Date(created) });
    expect(foreign.rejected.find((r) => r.dir === at('good'))!.reason).toMatch(/^foreign cell/);
    expect(await findUsableBackup({ backupsDir: path.join(dir, 'none'), cellGuid: cell.guid, cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 1 })).toMatchObject({ backup: null, rejected: [] });
    const later = await findUsableBackup({ backupsDir: dir, cellGuid: cell.guid, cellVersion: '9.9.9', maxAgeMs: 3_600_000, now: new Date(created) });
    expect(later.rejected.find((r) => r.dir === at('good'))!.reason).toMatch(/^taken at data version \S+, the cell is now at 9\.9\.9/);
  });

  test('restore into a new dir: same digests as the source, no lock files; a non-empty target is refused untouched; --replace moves it aside', async () => {
    const target = path.join(tempDir(), 'restored');
    const restored = await restoreBackup({ backupDir: backup.dir, targetDir: target });
    expect(restored.movedAside).toBeNull();
    expect(compareDigests(await digestCell(cell.dir), await digestCell(target))).toEqual([]);
    expect(readFileSync(path.join(target, 'cell.guid'), 'utf8')).toBe(cell.guid);
    expect(listFiles(target).filter((f) => f.endsWith('lock.mdb') || f === MANIFEST_FILE)).toEqual([]);
    expect(statSync(path.join(target, 'blobs', 'sparse.bin')).blocks * 512).toBeLessThan(1024 * 1024);

    writeFileSync(path.join(target, 'marker'), 'old');
    const before = treeState(target);
    await expect(restoreBackup({ backupDir: backup.dir, targetDir: target })).rejects.toMatchObject({ code: 'refused', message: expect.stringMatching(/not empty; nothing was changed/) });
    expect(treeState(target)).toBe(before);
    expect(readdirSync(path.dirname(target))).toEqual(['restored']);

    const replaced = await restoreBackup({ backupDir: backup.dir, targetDir: target, replace: true, now: new Date('2026-03-04T05:06:07Z') });
    expect(replaced.movedAside).toBe(`${target}.synup-replaced-20260304050607`);
    expect(readFileSync(path.join(replaced.movedAside!, 'marker'), 'utf8')).toBe('old');
    expect(existsSync(path.join(target, 'marker'))).toBe(false);
  });

  test('restore refuses a backup whose verification failed, or whose manifest was tampered with', async () => {
    const dir = damaged();
    truncateSync(path.join(dir, layerEnv().path, 'data.mdb'), 8192);
    await verifyBackup(dir);
    const target = path.join(tempDir(), 'r');
    await expect(restoreBackup({ backupDir: dir, targetDir: target })).rejects.toMatchObject({ code: 'refused', message: expect.stringMatching(/failed its last verification/) });
    writeFileSync(path.join(dir, MANIFEST_FILE), '{"format": "synup-backup/1"}');
    await expect(restoreBackup({ backupDir: dir, targetDir: target })).rejects.toMatchObject({ code: 'refused', message: expect.stringMatching(/checksum/) });
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(path.dirname(target))).toEqual([]);
  });

  test('--no-verify leaves the backup unverified for the gate; a cell holding a manifest.json at its top is refused', async () => {
    const dir = path.join(tempDir(), 'backups');
    const made = await createBackup({ cellDir: cell.dir, backupsDir: dir, mode: 'cold', verify: false, engine: 'lmdb-js' });
    expect(made.verification).toBeNull();
    expect(made.manifest).toMatchObject({ mode: 'cold', digestOf: 'source', consistency: 'snapshot', engine: 'lmdb-js' });
    const found = await findUsableBackup({ backupsDir: dir, cellGuid: cell.guid, cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 3_600_000 });
    expect(found.rejected[0]!.reason).toMatch(/^unverified/);
    expect((await verifyBackup(made.dir)).ok).toBe(true); // and verify makes it usable
    expect((await findUsableBackup({ backupsDir: dir, cellGuid: cell.guid, cellVersion: backup.manifest.cell.cellVersion, maxAgeMs: 3_600_000 })).backup?.dir).toBe(made.dir);

    const odd = path.join(tempDir(), 'odd');
    cpSync(cell.dir, odd, { recursive: true, verbatimSymlinks: true });
    writeFileSync(path.join(odd, MANIFEST_FILE), '{}');
    await expect(createBackup({ cellDir: odd, dst: path.join(tempDir(), 'x'), mode: 'live' })).rejects.toMatchObject({ code: 'refused' });
  });
});

describe('synapse engine', () => {
  test('delegates the copy to python -m synapse.tools.service.backup, still writes the manifest and verifies', async (ctx) => {
    let python: string | null = null;
    for (const py of ['python3', '/usr/bin/python3']) if ((await execa(py, ['-c', 'import lmdb'], { reject: false })).exitCode === 0) python ??= py;
    if (!python) return ctx.skip('no python3 with the lmdb module');
    // A stand-in for Synapse's tool (same command line and layout: env.copy(compact=True) per env, other files copied).
    const pkg = path.join(tempDir(), 'py');
    mkdirSync(path.join(pkg, 'synapse', 'tools', 'service'), { recursive: true });
    for (const init of ['synapse', 'synapse/tools', 'synapse/tools/service']) writeFileSync(path.join(pkg, init, '__init__.py'), '');
    writeFileSync(path.join(pkg, 'synapse', 'tools', 'service', 'backup.py'), [
      'import fnmatch, os, shutil, sys, lmdb',
      'args = sys.argv[1:]',
      "skip = ['**/tmp', '**/backups']",
      "if args[0] == '--skipdirs':",
      '    skip += args[1:-2]',
      'src, dst = args[-2], args[-1]',
      'os.makedirs(dst)',
      'for root, dnames, fnames in os.walk(src):',
      '    rel = os.path.relpath(root, src)',
      '    for name in list(dnames):',
      '        relname = os.path.join(rel, name)',
      '        if any(fnmatch.fnmatch(relname, p) for p in skip): dnames.remove(name); continue',
      "        if os.path.isfile(os.path.join(root, name, 'data.mdb')):",
      '            dnames.remove(name)',
      '            os.makedirs(os.path.join(dst, relname))',
      '            env = lmdb.open(os.path.join(root, name), readonly=True, max_dbs=64)',
      '            env.copy(os.path.join(dst, relname), compact=True)',
      '            continue',
      "        if name.endswith('.lmdb'): dnames.remove(name); continue",
      '        os.makedirs(os.path.join(dst, relname), exist_ok=True)',
      '    for name in fnames:',
      '        if os.path.isfile(os.path.join(root, name)) and not os.path.islink(os.path.join(root, name)):',
      '            shutil.copy(os.path.join(root, name), os.path.join(dst, rel, name))',
    ].join('\n'));
    const wrapper = path.join(pkg, 'python');
    writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH=${pkg} exec ${python} "$@"\n`, { mode: 0o755 });
    const made = await createBackup({ cellDir: cell.dir, dst: path.join(tempDir(), 'syn'), mode: 'live', engine: 'synapse', python: wrapper });
    expect(made.copy.engine).toBe('synapse');
    expect(made.verification!.ok).toBe(true);
    expect(made.manifest.digestOf).toBe('copy');
    expect(compareDigests(await digestCell(cell.dir), await digestCell(made.dir))).toEqual([]);
  });
});
