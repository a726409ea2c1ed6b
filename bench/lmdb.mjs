#!/usr/bin/env node
// Issue 4 targets, measured side by side in one run on a generated, fragmented Synapse-like cell (≥ 2 GB, ≥ 4 envs,
// cached in bench/.cache/):
//   synup's copy ≥ 0.95× `mdb_copy -c` to an fd, per env; ≥ 1.6× sequential `mdb_copy -c` for the whole cell;
//   ≥ 3× the path-based copy Synapse's tool uses (py-lmdb env.copy(path, compact=True)); verify ≥ 0.8× the dd read
//   rate; RssAnon ≤ 200 MB.
// Usage: node bench/lmdb.mjs [--gb 2.2] [--keep]   (needs `npm run build`; lmdb-utils and python3-lmdb optional)
// Every copy is fsynced before its clock stops. Copies read the source from the page cache (warmed once first), the
// same for every tool; dd and verify of the backup are measured hot and cold (pages dropped with dd iflag=nocache).
import { execFileSync } from 'node:child_process';
import { randomFillSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, fsyncSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import '../dist/lmdb/binding.js'; // synup's data-v1 binding, before lmdb-js loads one
import * as lmdb from 'lmdb';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const targetGb = Number(args[args.indexOf('--gb') + 1] || 2.2) || 2.2;
const cacheDir = path.join(root, 'bench', '.cache');
const cell = path.join(cacheDir, `cell-${targetGb}gb`);
const scratch = path.join(cacheDir, 'out');
// The helper synup itself runs: one built in native/build/, else the shipped prebuild.
const helper = [path.join(root, 'native', 'build', 'synup-mdb-copy'), path.join(root, 'prebuilds', `linux-${os.arch()}`, 'synup-mdb-copy')].find((f) => existsSync(f));
const synupBin = path.join(root, 'bin', 'synup.js');
const MB = 1024 * 1024;

const which = (name) => (process.env.PATH ?? '').split(':').map((d) => path.join(d, name)).find((f) => existsSync(f)) ?? null;
const mdbCopy = which('mdb_copy');

function pythonWithLmdb() {
  for (const py of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(py, ['-c', 'import lmdb'], { stdio: 'ignore' });
      return py;
    } catch {
      // next
    }
  }
  return null;
}
const python = pythonWithLmdb();

// ---------------------------------------------------------------------------------------------- the cell

/** Layer sizes (share of the total): unequal, so "largest first" and parallelism matter. */
const LAYERS = [0.34, 0.27, 0.22, 0.17];

function generateEnv(dir, bytes, seedDbs) {
  mkdirSync(dir, { recursive: true });
  const env = lmdb.open({ path: dir, noSubdir: false, maxDbs: 16, mapSize: 8 * 1024 * MB, noSync: true, encoding: 'binary', keyEncoding: 'binary' });
  const bybuid = env.openDB({ name: 'bybuid', encoding: 'binary', keyEncoding: 'binary' });
  const byprop = env.openDB({ name: 'byprop', encoding: 'binary', keyEncoding: 'binary' });
  const bytag = env.openDB({ name: 'bytag', dupSort: true, encoding: 'binary', keyEncoding: 'binary' });
  const sizes = [64, 200, 700, 1500, 3000, 5000, 9000, 20000]; // mean ≈ 4.9 KB, a third of them overflow pages
  const keys = [];
  let written = 0;
  const value = Buffer.allocUnsafe(20000);
  while (written < bytes) {
    env.transactionSync(() => {
      for (let i = 0; i < 2000; i++) {
        const key = randomBytes(16);
        const size = sizes[keys.length % sizes.length];
        randomFillSync(value, 0, size);
        bybuid.putSync(key, value.subarray(0, size));
        byprop.putSync(Buffer.concat([Buffer.from('prop:'), key.subarray(0, 6)]), key);
        if (keys.length % 4 === 0) bytag.putSync(Buffer.from(`#tag.${keys.length % 97}`), key);
        keys.push(key);
        written += size + 60;
      }
    });
  }
  // Fragment: delete 55% at random, then rewrite 10% with other sizes (they land in the freed pages).
  env.transactionSync(() => {
    for (let i = 0; i < keys.length; i++) if ((keys[i][0] * 7 + keys[i][1]) % 100 < 55) bybuid.removeSync(keys[i]);
  });
  env.transactionSync(() => {
    for (let i = 0; i < keys.length; i += 10) {
      const size = sizes[(i * 3) % sizes.length];
      randomFillSync(value, 0, size);
      bybuid.putSync(keys[i], value.subarray(0, size));
    }
  });
  if (seedDbs) seedDbs(env);
  env.transactionSync(() => {}); // one more commit so both metas are current
  return env.close();
}

async function ensureCell() {
  const marker = path.join(cell, '.generated');
  if (existsSync(marker)) return;
  rmSync(cell, { recursive: true, force: true });
  console.log(`generating a fragmented ${targetGb} GB cell in ${path.relative(root, cell)} (once; cached)…`);
  const t0 = performance.now();
  mkdirSync(cell, { recursive: true });
  writeFileSync(path.join(cell, 'cell.guid'), randomBytes(16).toString('hex'));
  writeFileSync(path.join(cell, 'cell.yaml'), 'aha:name: bench\n');
  for (const [i, share] of LAYERS.entries()) {
    await generateEnv(path.join(cell, 'layers', `layer${i}`, 'layer_v2.lmdb'), share * targetGb * 1024 * MB * 0.95);
  }
  await generateEnv(path.join(cell, 'slabs', 'cell.lmdb'), 4 * MB, (env) => {
    const info = env.openDB({ name: 'cell:info', encoding: 'binary', keyEncoding: 'binary' });
    env.transactionSync(() => info.putSync(Buffer.from('cell:version'), Buffer.from([0x93, 0x02, 0xcc, 0xb5, 0x00])));
  });
  writeFileSync(marker, new Date().toISOString());
  console.log(`generated in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

function envsOf(dir) {
  const found = [];
  const walk = (d, rel) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const abs = path.join(d, e.name);
      if (existsSync(path.join(abs, 'data.mdb'))) found.push({ rel: rel ? `${rel}/${e.name}` : e.name, dir: abs, bytes: statSync(path.join(abs, 'data.mdb')).size });
      else walk(abs, rel ? `${rel}/${e.name}` : e.name);
    }
  };
  walk(dir, '');
  return found.sort((a, b) => b.bytes - a.bytes);
}

// ------------------------------------------------------------------------------------------- measuring

/** Peak RssAnon (MB) of a process tree, sampled every 20 ms, summed over the tree. */
function rssSampler(pid) {
  let peak = 0;
  const tree = (p) => {
    const kids = (() => {
      try {
        return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    })();
    return [p, ...kids.flatMap(tree)];
  };
  const anon = (p) => {
    try {
      return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    } catch {
      return 0;
    }
  };
  const timer = setInterval(() => {
    peak = Math.max(peak, tree(pid).reduce((sum, p) => sum + anon(p), 0));
  }, 20);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

async function timed(label, fn) {
  const t0 = performance.now();
  const extra = await fn();
  const s = (performance.now() - t0) / 1000;
  return { label, s, ...(extra ?? {}) };
}

function fresh(name) {
  const dir = path.join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function fsyncFile(file) {
  const fd = openSync(file, 'r');
  fsyncSync(fd);
  closeSync(fd);
}

async function mdbCopyToFd(src, outFile) {
  const fd = openSync(outFile, 'wx', 0o600);
  try {
    await execa(mdbCopy, ['-c', src], { stdin: 'ignore', stdout: fd, stderr: 'inherit' });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function ddRead(files) {
  for (const file of files) await execa('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { stdio: 'ignore' });
}

const sumBytes = (files) => files.reduce((s, f) => s + statSync(f).size, 0);
const rate = (bytes, s) => bytes / MB / s;
const fmt = (n, d = 1) => n.toFixed(d);

// ------------------------------------------------------------------------------------------------- run

await ensureCell();
const envs = envsOf(cell);
const srcBytes = envs.reduce((s, e) => s + e.bytes, 0);
const srcFiles = envs.map((e) => path.join(e.dir, 'data.mdb'));
console.log(`cell: ${envs.length} envs, ${fmt(srcBytes / MB / 1024, 2)} GiB of data.mdb (${envs.map((e) => `${e.rel} ${fmt(e.bytes / MB, 0)} MB`).join(', ')})`);
console.log(`host: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work may be running)`);
await ddRead(srcFiles); // warm the page cache: every run below reads the source from it

const rows = [];
const perEnv = [];

// dd: reading the same bytes (the source), and later the compacted copy
const ddSrc = await timed('dd read of the source data.mdb files', () => ddRead(srcFiles));
rows.push({ ...ddSrc, mbs: rate(srcBytes, ddSrc.s) });

// mdb_copy -c to an fd, one env after the other (the reference)
let seq = null;
if (mdbCopy) {
  const out = fresh('mdbcopy');
  seq = await timed('mdb_copy -c > fd, sequential, per env, fsync', async () => {
    for (const env of envs) {
      const t0 = performance.now();
      await mdbCopyToFd(env.dir, path.join(out, `${env.rel.replace(/\//g, '_')}.mdb`));
      perEnv.push({ env: env.rel, bytes: env.bytes, mdbCopyS: (performance.now() - t0) / 1000 });
    }
  });
  rows.push({ ...seq, mbs: rate(srcBytes, seq.s) });
  rmSync(out, { recursive: true, force: true });
} else console.log('mdb_copy: skipped (lmdb-utils not installed)');

// the built-in helper per env, one process per env (same shape as mdb_copy)
{
  const out = fresh('builtin-per-env');
  const r = await timed('synup builtin helper, per env (-j 1), fsync', async () => {
    for (const env of envs) {
      const t0 = performance.now();
      await execa(helper, ['copy', env.dir, path.join(out, `${env.rel.replace(/\//g, '_')}.mdb`)], { stdin: 'ignore' });
      let row = perEnv.find((p) => p.env === env.rel);
      if (!row) perEnv.push((row = { env: env.rel, bytes: env.bytes }));
      row.builtinS = (performance.now() - t0) / 1000;
    }
  });
  rows.push({ ...r, mbs: rate(srcBytes, r.s) });
  rmSync(out, { recursive: true, force: true });
}

// the built-in helper on the whole cell: one snapshot over every env, `cores` envs at a time, copy only
let wholeCopy;
{
  const out = fresh('builtin-whole');
  wholeCopy = await timed(`synup builtin helper, whole cell, -j ${os.cpus().length} (one snapshot), fsync`, () =>
    execa(helper, ['copy', '-j', String(os.cpus().length), '--', ...envs.flatMap((env) => [env.dir, path.join(out, `${env.rel.replace(/\//g, '_')}.mdb`)])], { stdin: 'ignore' }));
  rows.push({ ...wholeCopy, mbs: rate(srcBytes, wholeCopy.s) });
  rmSync(out, { recursive: true, force: true });
}

// synup backup (the whole thing: snapshot, compaction 2 at a time, files, digests, manifest, full verify)
async function synupBackup(engine, extraEnv = {}) {
  const dst = path.join(fresh(`backup-${engine}`), 'b');
  const child = execa(process.execPath, [synupBin, '--json', 'backup', cell, dst, '--engine', engine, '--jobs', String(os.cpus().length)], { env: { NO_COLOR: '1', ...extraEnv }, stdin: 'ignore' });
  const stop = rssSampler(child.pid);
  const t0 = performance.now();
  const result = await child;
  const s = (performance.now() - t0) / 1000;
  const out = JSON.parse(result.stdout);
  return { s, rss: stop(), out, dst };
}

const backups = {};
for (const engine of ['builtin', ...(mdbCopy ? ['mdb_copy'] : [])]) {
  const b = await synupBackup(engine);
  backups[engine] = b;
  rows.push({ label: `synup backup --engine ${engine}: copy phase (${b.out.consistency}${engine === 'builtin' ? ', + digest of the snapshot' : ''})`, s: b.out.durationMs / 1000, mbs: rate(srcBytes, b.out.durationMs / 1000) });
  rows.push({ label: `synup backup --engine ${engine}: total incl. digests+manifest+verify`, s: b.s, mbs: rate(srcBytes, b.s), rss: b.rss });
}

// synup verify (every env walked and hashed, every file hashed) vs dd of the same (compacted) bytes
const backupDir = backups.builtin.dst;
const backupFiles = envsOf(backupDir).map((e) => path.join(e.dir, 'data.mdb'));
const backupBytes = sumBytes(backupFiles);
const ddCopy = await timed('dd read of the backup data.mdb files', () => ddRead(backupFiles));
rows.push({ ...ddCopy, mbs: rate(backupBytes, ddCopy.s) });
{
  const child = execa(process.execPath, [synupBin, '--json', 'verify', backupDir], { env: { NO_COLOR: '1' }, stdin: 'ignore', reject: false });
  const stop = rssSampler(child.pid);
  const t0 = performance.now();
  await child;
  const s = (performance.now() - t0) / 1000;
  rows.push({ label: 'synup verify (CLI, incl. node start)', s, mbs: rate(backupBytes, s), rss: stop() });
}
const walk = await timed('native walk -j 2 -d -f of the backup (verify\'s core)', () => execa(helper, ['walk', '-j', String(os.cpus().length), '-d', '-f', ...envsOf(backupDir).map((e) => e.dir)], { stdin: 'ignore' }));
rows.push({ ...walk, mbs: rate(backupBytes, walk.s) });

// the same, cold: the backup's pages dropped from the page cache first (posix_fadvise DONTNEED via dd iflag=nocache)
async function evict(files) {
  await execa('sync');
  for (const file of files) await execa('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}
await evict(backupFiles);
const ddCold = await timed('dd read of the backup data.mdb files, cold cache', () => ddRead(backupFiles));
rows.push({ ...ddCold, mbs: rate(backupBytes, ddCold.s) });
await evict(backupFiles);
const walkCold = await timed('native walk -j 2 -d -f of the backup, cold cache', () => execa(helper, ['walk', '-j', String(os.cpus().length), '-d', '-f', ...envsOf(backupDir).map((e) => e.dir)], { stdin: 'ignore' }));
rows.push({ ...walkCold, mbs: rate(backupBytes, walkCold.s) });
await evict(backupFiles);
{
  const t0 = performance.now();
  await execa(process.execPath, [synupBin, '--json', 'verify', backupDir], { env: { NO_COLOR: '1' }, stdin: 'ignore', reject: false });
  const s = (performance.now() - t0) / 1000;
  rows.push({ label: 'synup verify (CLI, incl. node start), cold cache', s, mbs: rate(backupBytes, s) });
}

// cp -r --sparse=always (not compacted), fsynced
{
  const out = path.join(fresh('cp'), 'c');
  const r = await timed('cp -r --sparse=always (not compacted) + sync', async () => {
    await execa('cp', ['-r', '--sparse=always', cell, out]);
    await execa('sync', ['-f', out]);
    for (const env of envsOf(out)) fsyncFile(path.join(env.dir, 'data.mdb'));
  });
  rows.push({ ...r, mbs: rate(srcBytes, r.s) });
  rmSync(path.dirname(out), { recursive: true, force: true });
}

// Synapse's tool's way: py-lmdb env.copy(path, compact=True) (mdb_env_copy2 to a path: O_DIRECT)
let pyCopy = null;
if (python) {
  const out = fresh('python');
  const script = `import lmdb, os, sys\nfor i, src in enumerate(sys.argv[2:]):\n    dst = os.path.join(sys.argv[1], str(i))\n    os.makedirs(dst)\n    env = lmdb.open(src, readonly=True, max_dbs=64, lock=True)\n    env.copy(dst, compact=True)\n    env.close()`;
  pyCopy = await timed('python3-lmdb env.copy(path, compact=True), sequential', () => execa(python, ['-c', script, out, ...envs.map((e) => e.dir)], { stdin: 'ignore' }));
  rows.push({ ...pyCopy, mbs: rate(srcBytes, pyCopy.s) });
  rmSync(out, { recursive: true, force: true });
} else console.log('python3-lmdb: skipped (not importable)');

// ------------------------------------------------------------------------------------------------ report

console.log('');
console.log('| what | seconds | MB/s (of source data.mdb, or of the backup for dd/verify) | RssAnon peak |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.label} | ${fmt(r.s, 2)} | ${fmt(r.mbs, 0)} | ${r.rss === undefined ? '' : `${fmt(r.rss, 0)} MB`} |`);
console.log('');
if (perEnv.some((p) => p.mdbCopyS)) {
  console.log('| env | MB | mdb_copy -c > fd s | builtin s | builtin / mdb_copy speed |');
  console.log('|---|---:|---:|---:|---:|');
  for (const p of perEnv) console.log(`| ${p.env} | ${fmt(p.bytes / MB, 0)} | ${fmt(p.mdbCopyS, 2)} | ${fmt(p.builtinS, 2)} | ${fmt(p.mdbCopyS / p.builtinS, 2)}× |`);
  console.log('');
}
const b = backups.builtin;
const copyS = b.out.durationMs / 1000;
console.log(`compacted: ${fmt(b.out.bytesBefore / MB, 0)} MB → ${fmt(b.out.bytesAfter / MB, 0)} MB`);
if (seq) {
  console.log(`whole cell vs sequential mdb_copy -c > fd (target ≥ 1.6×): builtin copy ${fmt(seq.s / wholeCopy.s, 2)}×; synup backup's copy phase (+ snapshot digest) ${fmt(seq.s / copyS, 2)}×; engine mdb_copy ×${os.cpus().length} ${fmt(seq.s / (backups.mdb_copy.out.durationMs / 1000), 2)}×`);
}
if (seq) console.log(`synup backup (compact + manifest + full verify) / sequential mdb_copy -c > fd (target ≤ 1.2×): ${fmt(b.s / seq.s, 2)}× (${fmt(b.s, 2)} s vs ${fmt(seq.s, 2)} s)`);
if (pyCopy) console.log(`vs Synapse's env.copy(path) (target ≥ 3×): builtin copy ${fmt(pyCopy.s / wholeCopy.s, 2)}×; synup backup's copy phase ${fmt(pyCopy.s / copyS, 2)}×`);
const verifyRow = (cold) => rows.find((r) => r.label.startsWith('synup verify') && r.label.endsWith('cold cache') === cold);
console.log(`verify vs dd of the same bytes (target ≥ 0.8×): cold cache: walk ${fmt(ddCold.s / walkCold.s, 2)}×, CLI ${fmt(ddCold.s / verifyRow(true).s, 2)}×; hot cache: walk ${fmt(ddCopy.s / walk.s, 2)}×, CLI ${fmt(ddCopy.s / verifyRow(false).s, 2)}×`);
console.log(`RssAnon peak of synup backup (node + helper): ${fmt(b.rss, 0)} MB (target ≤ 200 MB)`);
if (!args.includes('--keep')) rmSync(scratch, { recursive: true, force: true });
