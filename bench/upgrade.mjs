#!/usr/bin/env node
// Issues 6 and 24: downtime (stop → active) of the devops guide's manual way, `synup upgrade` with the cold defrag and
// with the online defrag, side by side, on the same fragmented sim cell, at each size of SYNUP_BENCH_GB (GB of live
// data; default "0.2,2": cells of 0.5 and 4.96 GB on disk, 10× apart, to see which downtime grows with the data). Manual: stop; the Synapse tool's compacted copy of
// every env (env.copy to a *path*, what `synapse.tools.service.backup` does — py-lmdb when installed, else
// `mdb_copy -c SRC DSTDIR`, the same C call); `mv dir dir_old`; `cp -R backup dir`; start; wait active. The upgrade
// crosses no migration (2.183.0 → 2.184.0) so every boot costs the same and the difference is the data handling.
// Also: rollback time (two renames + start).
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import '../dist/lmdb/binding.js'; // synup's data-v1 binding, before lmdb-js loads one
import { open } from 'lmdb';
import { createSimCell, freePort, SIM_CELL_JS } from '../test/sim/index.js';
import { SimStorage } from '../test/sim/storage.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const GB = 2 ** 30;
const SIZES = (process.env.SYNUP_BENCH_GB ?? '0.2,2').split(',').map(Number);
const FROM = '2.183.0';
const TO = '2.184.0';

/**
 * `target` bytes over 4 more layer envs, values 2–48 KiB (many overflow pages), 55 % deleted: fragmented like a
 * long-lived cell. Each is registered as a layer of the Cortex, so the cell opens it (and its own backup copies it).
 */
async function buildCell(dir, target) {
  await createSimCell(dir, { version: FROM, seed: 2000 });
  const per = target / 0.45 / 4;
  for (let e = 0; e < 4; e++) {
    const envDir = path.join(dir, 'layers', `bench${e}`.padEnd(32, '0'), 'layer_v2.lmdb');
    mkdirSync(envDir, { recursive: true });
    const env = open({ path: envDir, noSubdir: false, maxDbs: 16, mapSize: 16 * GB, encoding: 'binary', keyEncoding: 'binary' });
    const db = env.openDB({ name: 'nodes', encoding: 'binary', keyEncoding: 'binary' });
    let bytes = 0;
    let i = 0;
    while (bytes < per) {
      await env.transaction(() => {
        for (let k = 0; k < 2000; k++, i++) {
          const size = 2048 + ((i * 7919) % (46 * 1024));
          const key = Buffer.alloc(8);
          key.writeUInt32BE(i, 4);
          db.put(key, Buffer.alloc(size, i % 251));
          bytes += size;
        }
      });
    }
    await env.transaction(() => {
      for (let k = 0; k < i; k++) if (k % 20 < 11) {
        const key = Buffer.alloc(8);
        key.writeUInt32BE(k, 4);
        db.remove(key);
      }
    });
    await env.close();
  }
  const storage = new SimStorage(dir);
  const model = storage.layerModel(storage.layerIdens()[0]);
  for (let e = 0; e < 4; e++) storage.setLayerModel(`bench${e}`.padEnd(32, '0'), model);
  await storage.close();
}

function du(dir) {
  let total = 0;
  for (const rel of readdirSync(dir, { recursive: true })) {
    const st = statSync(path.join(dir, String(rel)));
    if (st.isFile()) total += st.blocks * 512;
  }
  return total;
}

async function startService(dir, port, version) {
  const child = execa(process.execPath, [SIM_CELL_JS, dir, '--version', version, '--port', String(port)], { stdio: 'ignore', reject: false });
  const { waitForActive } = await import('../dist/health/index.js');
  await waitForActive({ host: '127.0.0.1', port, cellDir: dir, deadlineMs: 120_000, initialDelayMs: 50, maxDelayMs: 100 });
  return { child }; // wrapped: returning the execa promise itself would wait for the process to exit
}

async function stopService({ child }) {
  child.kill('SIGTERM');
  await child;
}

const stamp = (what) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${what}`);
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const sparseCopy = async (from, to) => {
  mkdirSync(path.dirname(to), { recursive: true });
  await execa('cp', ['-a', '--sparse=always', from, to]);
};
const pyLmdb = (await execa('python3', ['-c', 'import lmdb'], { reject: false })).exitCode === 0;
const mdbCopy = (await execa('which', ['mdb_copy'], { reject: false })).exitCode === 0;
if (!pyLmdb && !mdbCopy) {
  console.log('skipped: neither python3-lmdb nor mdb_copy is installed (apt-get install python3-lmdb lmdb-utils)');
  process.exit(0);
}

/** The manual way on a copy of `cache`: its downtime and how long the copies took. */
async function manualWay(cache, work) {
  const manualCell = path.join(work, 'manual', 'cortex00');
  stamp('preparing the manual copy');
  await sparseCopy(cache, manualCell);
  const port = await freePort();
  let svc = await startService(manualCell, port, FROM);
  stamp('manual way: stop, compact copy to paths, mv, cp -R, start');
  const t0 = performance.now();
  await stopService(svc);
  const backup = path.join(work, 'manual', 'backup');
  const envs = readdirSync(manualCell, { recursive: true }).map(String).filter((r) => r.endsWith('data.mdb')).map((r) => path.dirname(r));
  for (const rel of envs) {
    const dst = path.join(backup, rel);
    mkdirSync(dst, { recursive: true });
    if (pyLmdb) {
      await execa('python3', ['-c', 'import lmdb,sys; e=lmdb.open(sys.argv[1], readonly=True, lock=False, max_dbs=128); e.copy(sys.argv[2], compact=True)', path.join(manualCell, rel), dst]);
    } else {
      await execa('mdb_copy', ['-c', path.join(manualCell, rel), dst]);
    }
  }
  for (const f of ['cell.guid', 'cell.yaml', 'sslcert.pem', 'sslkey.pem']) cpSync(path.join(manualCell, f), path.join(backup, f));
  const copyMs = performance.now() - t0;
  renameSync(manualCell, `${manualCell}_old`);
  await execa('cp', ['-R', backup, manualCell]);
  const cpMs = performance.now() - t0 - copyMs;
  svc = await startService(manualCell, port, TO);
  const downtimeMs = performance.now() - t0;
  await stopService(svc);
  rmSync(path.join(work, 'manual'), { recursive: true, force: true });
  return { downtimeMs, copyMs, cpMs };
}

const PASSWORD = 'bench-secret';

/** `synup upgrade --defrag <defrag>` on a copy of `cache`: the run as `synup history` records it; then its rollback. */
async function synupWay(cache, work, defrag, { rollback = false } = {}) {
  const synupWork = path.join(work, `synup-${defrag}`);
  const synupCell = path.join(synupWork, 'cortex00');
  stamp(`preparing the synup copy (${defrag} defrag)`);
  await sparseCopy(cache, synupCell);
  const [port, dmonPort] = [await freePort(), await freePort()];
  if (defrag === 'online') writeFileSync(path.join(synupCell, 'cell.yaml'), `nexslog:en: true\ndmon:listen: tcp://127.0.0.1:${dmonPort}/\n`);
  writeFileSync(path.join(synupWork, 'synup.yaml'), [
    'cell: {dir: ./cortex00}',
    `changelog: ${JSON.stringify(path.join(root, 'changelogs', 'sim-CHANGELOG.rst'))}`,
    'state: {dir: ./state}',
    'backup: {dir: ./backups, maxAge: 1h}',
    `service: {stopTimeout: 30s, process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}'], env: {SYN_SIM_PASSWORD: ${PASSWORD}}}}`,
    `health: {port: ${port}, startTimeout: 120s}`,
    `upgrade: {defrag: ${defrag}, onlineDefrag: {backupTimeout: 1h, catchUpTimeout: 10m}}`,
    '',
  ].join('\n'));
  const synupCli = (args) => execa(process.execPath, [path.join(root, 'bin', 'synup.js'), ...args], { cwd: synupWork, env: { CI: 'true', SYNUP_HEALTH_PASSWORD: PASSWORD }, reject: false });
  const { loadConfig } = await import('../dist/config/load.js');
  const { createAdapter } = await import('../dist/service/index.js');
  const adapter = createAdapter(loadConfig({ cwd: synupWork }).config, { cellDir: synupCell, stateDir: path.join(synupWork, 'state'), cwd: synupWork });
  await adapter.start(FROM);
  const made = await synupCli(['backup', synupCell]);
  if (made.exitCode !== 0) throw new Error(made.stderr);
  stamp(`synup upgrade --defrag ${defrag}`);
  const t0 = performance.now();
  const up = await synupCli(['upgrade', '--to', TO, '-y']);
  const wallMs = performance.now() - t0;
  if (up.exitCode !== 0) throw new Error(up.stderr);
  const run = JSON.parse((await synupCli(['history', '--json'])).stdout).runs.at(-1);
  const step = (name) => run.steps.find((x) => x.name === name);
  if (defrag === 'online' && step('shadow-swap')?.state !== 'completed') throw new Error(`the online defrag fell back:\n${up.stderr}`);
  let rollbackMs = null;
  if (rollback) {
    const t1 = performance.now();
    const rb = await synupCli(['rollback', '--force', '-y']);
    rollbackMs = performance.now() - t1;
    if (rb.exitCode !== 4) throw new Error(rb.stderr);
  }
  await adapter.stop({ timeoutMs: 30_000 });
  rmSync(synupWork, { recursive: true, force: true });
  return { run, step, wallMs, rollbackMs };
}

const rows = [];
for (const [i, gb] of SIZES.entries()) {
  const cache = path.join(root, 'bench', '.cache', `upgrade-cell-${gb}gb`);
  if (!existsSync(path.join(cache, 'cell.guid'))) {
    console.log(`building a ${gb} GB fragmented sim cell in ${cache} (cached for later runs)…`);
    rmSync(cache, { recursive: true, force: true });
    await buildCell(cache, gb * GB);
  }
  const work = path.join(path.dirname(cache), 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const allocated = du(cache);
  console.log(`cell: ${(allocated / GB).toFixed(2)} GB allocated`);
  const manual = await manualWay(cache, work);
  const cold = await synupWay(cache, work, 'cold', { rollback: i === 0 });
  const online = await synupWay(cache, work, 'online');
  rmSync(work, { recursive: true, force: true });
  rows.push({ gb: allocated / GB, manual, cold, online });
}

console.log('\n| cell | way | downtime (stop → active) | ratio to manual | data handling in the downtime | before the downtime |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const { gb, manual, cold, online } of rows) {
  const ratio = (ms) => `${(ms / manual.downtimeMs).toFixed(2)}×`;
  console.log(`| ${gb.toFixed(2)} GB | manual (${pyLmdb ? 'py-lmdb env.copy to a path' : 'mdb_copy -c to a dir'} + mv + cp -R) | ${s(manual.downtimeMs)} | 1.00× | copy ${s(manual.copyMs)} + cp -R ${s(manual.cpMs)} | — |`);
  console.log(`| ${gb.toFixed(2)} GB | synup, cold defrag (engine ${cold.run.engine}) | ${s(cold.run.downtimeMs)} | ${ratio(cold.run.downtimeMs)} | compact + verify ${s(cold.step('cold-defrag').durationMs)} | — |`);
  console.log(`| ${gb.toFixed(2)} GB | synup, online defrag | ${s(online.run.downtimeMs)} | ${ratio(online.run.downtimeMs)} | shadow swap ${s(online.step('shadow-swap').durationMs)} | shadow made and caught up ${s(online.step('shadow').durationMs)} |`);
}
const [small, large] = [rows[0], rows.at(-1)];
console.log(`\nonline defrag, ${large.gb.toFixed(2)} GB vs ${small.gb.toFixed(2)} GB: downtime ${s(large.online.run.downtimeMs)} vs ${s(small.online.run.downtimeMs)} (${((large.online.run.downtimeMs / small.online.run.downtimeMs - 1) * 100).toFixed(0)} %; goal ≤ +20 %)`);
console.log(`online / manual on the ${large.gb.toFixed(2)} GB cell: ${(large.online.run.downtimeMs / large.manual.downtimeMs).toFixed(2)}× (goal ≤ 0.15×); cold / manual: ${(large.cold.run.downtimeMs / large.manual.downtimeMs).toFixed(2)}×`);
console.log(`rollback (synup rollback --force: stop new, two renames, start old, wait active) on the ${small.gb.toFixed(2)} GB cell: ${s(small.cold.rollbackMs)}`);
