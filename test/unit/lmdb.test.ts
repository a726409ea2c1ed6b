import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { discoverEnvs, matchesSkipGlob, scanCell } from '../../src/lmdb/discover.js';
import { readMeta } from '../../src/lmdb/format.js';
import { findHolders, readerPids } from '../../src/lmdb/holders.js';
import { inspectCell } from '../../src/lmdb/inspect.js';
import { nativeHelperPath } from '../../src/lmdb/native.js';
import { walkEnvs } from '../../src/lmdb/walk.js';
import { buildCell, openWritableEnv, subDb } from '../support/fixtures/cell.js';
import { findExecutable } from '../../src/backup/engines.js';
import { tempDir } from '../support/helpers.js';

const helper = nativeHelperPath();
const python = findExecutable('python3') ? 'python3' : null;
const mdbStat = findExecutable('mdb_stat');

async function pythonHasLmdb(): Promise<string | null> {
  for (const py of ['python3', '/usr/bin/python3']) {
    const probe = await execa(py, ['-c', 'import lmdb'], { reject: false });
    if (probe.exitCode === 0) return py;
  }
  return null;
}

/** Makes a copy of an env whose meta pages claim another data format (what the lmdb npm prebuilt writes: v2). */
function withDataVersion(envDir: string, dst: string, version: number): void {
  mkdirSync(dst, { recursive: true });
  const buf = readFileSync(path.join(envDir, 'data.mdb'));
  const pageSize = buf.readUInt32LE(16 + 24);
  buf.writeUInt32LE(version, 16 + 4);
  buf.writeUInt32LE(version, pageSize + 16 + 4);
  writeFileSync(path.join(dst, 'data.mdb'), buf);
}

describe('discovery', () => {
  test('finds every env like Synapse\'s backup tool: tmp/ and backups/ skipped, orphan .lmdb reported, links not followed', async () => {
    const cell = await buildCell(tempDir(), { entries: 60 });
    const { envs, orphans, skipped } = await discoverEnvs(cell.dir);
    expect(envs.map((e) => e.rel).sort()).toEqual(cell.envs);
    expect(envs[0]!.dataBytes).toBeGreaterThanOrEqual(envs.at(-1)!.dataBytes); // largest first
    expect(orphans).toEqual(['layers/orphan.lmdb']);
    expect(skipped.sort()).toEqual(['backups', 'tmp']);
    const tree = await scanCell(cell.dir);
    expect(tree.symlinks).toEqual([{ rel: 'first-layer', target: `layers/${cell.layerIdens[0]}`, escapes: false }]);
    expect(tree.files.map((f) => f.rel).sort()).toEqual(['blobs/sparse.bin', 'cell.guid', 'cell.yaml', 'sslcert.pem']);
  });

  test('skip globs: Synapse fnmatch on ./<rel>, and a bare name anywhere', () => {
    expect(matchesSkipGlob('tmp', ['**/tmp'])).toBe(true);
    expect(matchesSkipGlob('axon/tmp', ['**/tmp'])).toBe(true);
    expect(matchesSkipGlob('layers/abc', ['layers/*'])).toBe(true);
    expect(matchesSkipGlob('layers', ['layers/*'])).toBe(false);
    expect(matchesSkipGlob('a/sockets', ['sockets'])).toBe(true);
    expect(matchesSkipGlob('jsonstor', ['json[!s]tor'])).toBe(false);
    expect(matchesSkipGlob('jsonstor', ['json[s]tor'])).toBe(true);
  });

  test('a missing dir is a clear usage error', async () => {
    await expect(discoverEnvs(path.join(tempDir(), 'nope'))).rejects.toThrow(/does not exist/);
  });
});

describe('walk and digest', () => {
  test('the TypeScript walk gives the same entries and digests as the native helper, for every env', async (ctx) => {
    if (!helper) return ctx.skip('native helper not built');
    const cell = await buildCell(tempDir(), { entries: 150, layers: 1 });
    const dirs = cell.envs.map((rel) => path.join(cell.dir, rel));
    const native = await walkEnvs(dirs, { digest: true, fileHash: true, engine: 'native', jobs: 2 });
    const js = await walkEnvs(dirs, { digest: true, fileHash: true, engine: 'lmdb-js' });
    expect(native.engine).toBe('native');
    for (const [i, outcome] of native.outcomes.entries()) {
      const other = js.outcomes[i]!;
      if (!outcome.ok || !other.ok) throw new Error('walk failed');
      expect(other.walk.dbs.map((d) => [d.name, d.flags, d.entries, d.digest])).toEqual(outcome.walk.dbs.map((d) => [d.name, d.flags, d.entries, d.digest]));
      expect(other.walk.digest).toBe(outcome.walk.digest);
      expect(other.walk.fileHash).toBe(outcome.walk.fileHash);
      expect(outcome.walk.digest).toMatch(/^[0-9a-f]{16}$/);
    }
    const layer = native.outcomes.find((o) => o.dir.includes('layer_v2'))!;
    if (!layer.ok) throw new Error('layer');
    expect(layer.walk.dbs.map((d) => d.name)).toEqual(['bybuid', 'byprop', 'bytag', 'layer:meta']);
    const bytag = layer.walk.dbs.find((d) => d.name === 'bytag')!;
    expect(bytag.flags & 0x04).toBe(4); // DUPSORT, every duplicate walked
    expect(bytag.entries).toBe(bytag.recordEntries);
    expect(layer.walk.freePages).toBeGreaterThan(0); // fragmented by deletes
    // no lock.mdb is ever created by reading: the fixture's own lock files are the only ones
    expect(existsSync(path.join(cell.dir, 'backups'))).toBe(true);
  });

  test('plain entries of the main db are a pseudo sub-db "" in both walkers', async () => {
    const dir = path.join(tempDir(), 'plain.lmdb');
    const env = openWritableEnv(dir);
    const root = env.openDB<Buffer, Buffer>({ name: null as unknown as string, encoding: 'binary', keyEncoding: 'binary' });
    const named = subDb(env, 'named');
    env.transactionSync(() => {
      root.putSync(Buffer.from('plain'), Buffer.from('value'));
      root.putSync(Buffer.from('x48'), Buffer.alloc(48, 7)); // looks like a db record, is not one
      named.putSync(Buffer.from('k'), Buffer.from('v'));
    });
    await env.close();
    const js = (await walkEnvs([dir], { digest: true, engine: 'lmdb-js' })).outcomes[0]!;
    if (!js.ok) throw new Error(js.error);
    expect(js.walk.dbs.map((d) => [d.name, d.entries])).toEqual([['', 2], ['named', 1]]);
    if (!helper) return;
    const native = (await walkEnvs([dir], { digest: true, engine: 'native' })).outcomes[0]!;
    if (!native.ok) throw new Error(native.error);
    const summary = (dbs: typeof js.walk.dbs) => dbs.map((d) => [d.name, d.flags, d.entries, d.digest]);
    expect(summary(native.walk.dbs)).toEqual(summary(js.walk.dbs));
    expect(native.walk.digest).toBe(js.walk.digest);
  });

  test('an env in another data format or truncated is refused by name, never opened natively', async () => {
    const cell = await buildCell(tempDir(), { entries: 30, layers: 1, extras: false });
    const v2 = path.join(tempDir(), 'v2.lmdb');
    withDataVersion(path.join(cell.dir, 'slabs', 'cell.lmdb'), v2, 2);
    await expect(readMeta(path.join(v2, 'data.mdb'))).rejects.toThrow(/data format v2/);
    const truncated = path.join(tempDir(), 'short.lmdb');
    mkdirSync(truncated);
    const bytes = readFileSync(path.join(cell.dir, 'slabs', 'nexus.lmdb', 'data.mdb'));
    writeFileSync(path.join(truncated, 'data.mdb'), bytes.subarray(0, bytes.length - 8192));
    for (const engine of helper ? (['native', 'lmdb-js'] as const) : (['lmdb-js'] as const)) {
      const { outcomes } = await walkEnvs([v2, truncated], { digest: true, engine });
      expect(outcomes[0]).toMatchObject({ ok: false, error: expect.stringMatching(/format v2/) });
      expect(outcomes[1]).toMatchObject({ ok: false, error: expect.stringMatching(/truncated/) });
    }
    expect(existsSync(path.join(v2, 'lock.mdb'))).toBe(false);
  });
});

describe('inspect', () => {
  test('sizes, free pages, fragmentation and sub-dbs with flags', async () => {
    const cell = await buildCell(tempDir(), { entries: 200, layers: 1 });
    const report = await inspectCell(cell.dir);
    expect(report.envs.map((e) => e.path).sort()).toEqual(cell.envs);
    const layer = report.envs.find((e) => e.path.endsWith('layer_v2.lmdb'))!;
    expect(layer.pageSize).toBe(4096);
    expect(layer.fragmentation).toBeGreaterThan(0.2);
    expect(layer.compactedBytes).toBeLessThan(layer.fileBytes);
    expect(layer.dbs!.find((d) => d.name === 'bytag')!.flags).toEqual(['DUPSORT']);
    expect(report.totals.entries).toBe(report.envs.reduce((s, e) => s + (e.entries ?? 0), 0));
    expect(report.orphans).toEqual(['layers/orphan.lmdb']);
  });

  test('mdb_stat agrees on entries and free pages', async (ctx) => {
    if (!mdbStat || !helper) return ctx.skip('mdb_stat not installed or helper not built');
    const cell = await buildCell(tempDir(), { entries: 120, layers: 1, extras: false });
    const report = await inspectCell(cell.dir);
    const layer = report.envs.find((e) => e.path.endsWith('layer_v2.lmdb'))!;
    const stat = await execa(mdbStat, ['-e', '-f', '-a', path.join(cell.dir, layer.path)]);
    const freelist = /Freelist Status[\s\S]*?Branch pages: (\d+)\s+Leaf pages: (\d+)\s+Overflow pages: (\d+)[\s\S]*?Free pages: (\d+)/.exec(stat.stdout)!;
    expect(layer.freePages).toBe(freelist.slice(1, 5).reduce((sum, n) => sum + Number(n), 0)); // listed free pages + the free list's own
    const bytagEntries = Number(/Status of bytag[\s\S]*?Entries: (\d+)/.exec(stat.stdout)![1]);
    expect(layer.dbs!.find((d) => d.name === 'bytag')!.entries).toBe(bytagEntries);
  });
});

describe('cell info', () => {
  test('guid and versions from cell.guid and slabs/cell.lmdb cell:info (msgpack tuples)', async () => {
    const cell = await buildCell(tempDir(), { entries: 20, layers: 0, extras: false, cellVersion: [2, 190, 1], synapseVersion: [2, 191, 0], nexusVersion: [2, 189, 3] });
    const expected = { guid: cell.guid, cellVersion: '2.190.1', synapseVersion: '2.191.0', nexusVersion: '2.189.3' };
    expect(await readCellInfo(cell.dir)).toEqual(expected);
    process.env.SYNUP_NO_NATIVE = '1'; // the lmdb-js fallback reads the same
    try {
      expect(await readCellInfo(cell.dir)).toEqual(expected);
    } finally {
      delete process.env.SYNUP_NO_NATIVE;
    }
  });

  test('a dir without cell.guid or slabs has nulls; a foreign-format slab is refused', async () => {
    const empty = tempDir();
    expect(await readCellInfo(empty)).toEqual({ guid: null, cellVersion: null, synapseVersion: null, nexusVersion: null });
    const cell = await buildCell(tempDir(), { entries: 20, layers: 0, extras: false });
    const bad = tempDir();
    withDataVersion(path.join(cell.dir, 'slabs', 'cell.lmdb'), path.join(bad, 'slabs', 'cell.lmdb'), 2);
    await expect(readCellInfo(bad)).rejects.toThrow(/data format v2/);
  });
});

describe('holders', () => {
  test('a reader in another process is found in lock.mdb (and by its LMDB lock); our own readers are not', async () => {
    const cell = await buildCell(tempDir(), { entries: 20, layers: 0, extras: false });
    const envDir = path.join(cell.dir, 'slabs', 'nexus.lmdb');
    await readCellInfo(cell.dir); // synup's own open env is never a holder
    expect(await findHolders(cell.dir)).toEqual([]);
    const script = `const lmdb = require(${JSON.stringify(createRequire(import.meta.url).resolve('lmdb'))}); const env = lmdb.open({ path: ${JSON.stringify(envDir)}, noSubdir: false, readOnly: true, maxDbs: 8 }); const txn = env.useReadTransaction(); console.log('ready'); setTimeout(() => {}, 60000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`reader exited ${code}`)));
      });
      const holders = await findHolders(cell.dir);
      expect(holders).toContainEqual({ pid: child.pid, path: path.join(envDir, 'lock.mdb'), kind: 'reader', command: 'node' });
      // the reader table alone, without /proc/locks
      expect(await readerPids(path.join(envDir, 'lock.mdb'))).toContain(child.pid);
      expect(await findHolders(cell.dir, { procLocks: '' })).toEqual([{ pid: child.pid, path: path.join(envDir, 'lock.mdb'), kind: 'reader', command: 'node' }]);
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await findHolders(cell.dir)).toEqual([]); // a dead reader's slot is not a holder
  });

  test('the lock Synapse takes on cell.guid (lockf) is a cell-lock', async (ctx) => {
    if (!python) return ctx.skip('python3 not installed');
    const cell = await buildCell(tempDir(), { entries: 10, layers: 0, extras: false });
    const guidFile = path.join(cell.dir, 'cell.guid');
    const child = spawn(python, ['-c', `import fcntl, sys, time\nf = open(${JSON.stringify(guidFile)}, 'r+')\nfcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nprint('ready', flush=True)\ntime.sleep(60)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`locker exited ${code}`)));
      });
      expect(await findHolders(cell.dir)).toEqual([{ pid: child.pid, path: guidFile, kind: 'cell-lock', command: expect.stringMatching(/^python/) }]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('native helper', () => {
  test('one snapshot: read txns on every env are begun before any env is copied', async (ctx) => {
    if (!helper) return ctx.skip('native helper not built');
    const cell = await buildCell(tempDir(), { entries: 300, layers: 1, extras: false });
    const big = path.join(cell.dir, 'layers', cell.layerIdens[0]!, 'layer_v2.lmdb');
    const small = path.join(cell.dir, 'slabs', 'cell.lmdb');
    const out = tempDir();
    mkdirSync(path.join(out, 'big.lmdb'));
    mkdirSync(path.join(out, 'small.lmdb'));
    // The big env is copied first into a pipe we do not drain yet: the helper is stuck there, its snapshot taken.
    const child = spawn(helper, ['copy', '-j', '1', '-d', '--', big, 'fd:3', small, path.join(out, 'small.lmdb', 'data.mdb')], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"snapshot"')) resolve();
    }));
    const writer = openWritableEnv(small);
    await subDb(writer, 'cell:info').put(Buffer.from('written:after:snapshot'), Buffer.from('x'));
    await writer.close();
    const fd = openSync(path.join(out, 'big.lmdb', 'data.mdb'), 'w');
    for await (const chunk of child.stdio[3]! as NodeJS.ReadableStream) writeSync(fd, chunk as Buffer);
    closeSync(fd);
    expect(await exited).toBe(0);
    const result = { stdout };
    const events = String(result.stdout).trim().split('\n').map((l) => JSON.parse(l) as { event: string; env?: number; dbs?: { name: string; entries: number }[] });
    expect(events[0]!.event).toBe('snapshot');
    const { outcomes } = await walkEnvs([path.join(out, 'small.lmdb'), path.join(out, 'big.lmdb')], { digest: true });
    const [smallCopy, bigCopy] = outcomes;
    if (!smallCopy!.ok || !bigCopy!.ok) throw new Error(`copy unreadable: ${JSON.stringify(outcomes)}`);
    expect(smallCopy!.walk.dbs.find((d) => d.name === 'cell:info')!.entries).toBe(4); // the later write is not in the copy
    const live = (await walkEnvs([small], { digest: true })).outcomes[0]!;
    if (!live.ok) throw new Error(live.error);
    expect(live.walk.dbs.find((d) => d.name === 'cell:info')!.entries).toBe(5);
    // the helper's digest of the pinned snapshot equals the copy's
    const snapshotOfSmall = events.find((e) => e.event === 'env' && e.env === 1)!;
    expect(snapshotOfSmall.dbs!.find((d) => Buffer.from(d.name, 'hex').toString() === 'cell:info')!.entries).toBe(4);
    expect(existsSync(path.join(out, 'small.lmdb', 'lock.mdb'))).toBe(false);
  });

  test('refuses to overwrite an existing output and reports bad usage', async (ctx) => {
    if (!helper) return ctx.skip('native helper not built');
    const cell = await buildCell(tempDir(), { entries: 10, layers: 0, extras: false });
    const out = path.join(tempDir(), 'exists.mdb');
    writeFileSync(out, 'keep me');
    const run = await execa(helper, ['copy', path.join(cell.dir, 'slabs', 'cell.lmdb'), out], { reject: false });
    expect(run.exitCode).toBe(1);
    expect(run.stdout).toMatch(/"event":"error".*cannot create the output: File exists/);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect((await execa(helper, ['copy', 'only-one-arg'], { reject: false })).exitCode).toBe(2);
    expect((await execa(helper, ['walk', '-j', 'x', 'a'], { reject: false })).exitCode).toBe(2);
  });

  test('the original one-env form still works (SRC OUT_FD)', async (ctx) => {
    if (!helper) return ctx.skip('native helper not built');
    const cell = await buildCell(tempDir(), { entries: 10, layers: 0, extras: false });
    const dst = path.join(tempDir(), 'one.lmdb');
    mkdirSync(dst);
    const fd = openSync(path.join(dst, 'data.mdb'), 'w');
    const run = await execa(helper, [path.join(cell.dir, 'slabs', 'cell.lmdb'), '3'], { stdio: ['ignore', 'pipe', 'pipe', fd], reject: false });
    closeSync(fd);
    expect(run.exitCode, run.stderr).toBe(0);
    const { outcomes } = await walkEnvs([dst, path.join(cell.dir, 'slabs', 'cell.lmdb')], { digest: true });
    expect(outcomes[0]!.ok && outcomes[1]!.ok && outcomes[0]!.walk.digest === outcomes[1]!.walk.digest).toBe(true);
  });
});

describe('other readers accept synup\'s copies', () => {
  test('py-lmdb (what Synapse uses) reads a compacted copy with the same entries', async (ctx) => {
    if (!helper) return ctx.skip('native helper not built');
    const py = await pythonHasLmdb();
    if (!py) return ctx.skip('python3 lmdb module not importable');
    const cell = await buildCell(tempDir(), { entries: 100, layers: 1, extras: false });
    const src = path.join(cell.dir, 'layers', cell.layerIdens[0]!, 'layer_v2.lmdb');
    const dst = path.join(tempDir(), 'copy.lmdb');
    mkdirSync(dst);
    const run = await execa(helper, ['copy', src, path.join(dst, 'data.mdb')], { reject: false });
    expect(run.exitCode, run.stdout).toBe(0);
    const count = await execa(py, ['-c', `import lmdb\nenv = lmdb.open(${JSON.stringify(dst)}, readonly=True, max_dbs=16, lock=False)\nwith env.begin() as txn:\n  db = env.open_db(b'bytag', txn=txn, dupsort=True)\n  print(sum(1 for _ in txn.cursor(db=db)))`]);
    const walked = (await walkEnvs([src], { digest: true })).outcomes[0]!;
    if (!walked.ok) throw new Error(walked.error);
    expect(Number(count.stdout.trim())).toBe(walked.walk.dbs.find((d) => d.name === 'bytag')!.entries);
  });
});
