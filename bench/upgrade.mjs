#!/usr/bin/env node
// Issue 6: downtime of `synup upgrade` vs the devops guide's manual way, side by side, on the same ≥ 2 GB fragmented
// sim cell: stop; the Synapse tool's compacted copy of every env (env.copy to a *path*, what
// `synapse.tools.service.backup` does — py-lmdb when installed, else `mdb_copy -c SRC DSTDIR`, the same C call);
// `mv dir dir_old`; `cp -R backup dir`; start; wait active. The upgrade crosses no migration (2.183.0 → 2.184.0) so
// both boots cost the same and the difference is the data handling. Also: rollback time (two renames + start).
import { cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import '../dist/lmdb/binding.js'; // synup's data-v1 binding, before lmdb-js loads one
import { open } from 'lmdb';
import { createSimCell, freePort, SIM_CELL_JS } from '../test/sim/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cache = path.join(root, 'bench', '.cache', 'upgrade-cell');
const GB = 2 ** 30;
const TARGET = Number(process.env.SYNUP_BENCH_GB ?? 2) * GB;
const FROM = '2.183.0';
const TO = '2.184.0';

/** ≥ 2 GB over 4 layer envs, values 2–48 KiB (many overflow pages), 55 % deleted: fragmented like a long-lived cell. */
async function buildCell(dir) {
  await createSimCell(dir, { version: FROM, seed: 2000 });
  const per = TARGET / 0.45 / 4;
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

if (!existsSync(path.join(cache, 'cell.guid'))) {
  console.log(`building a ${(TARGET / GB).toFixed(1)} GB fragmented sim cell in ${cache} (cached for later runs)…`);
  rmSync(cache, { recursive: true, force: true });
  await buildCell(cache);
}
const work = path.join(path.dirname(cache), 'work');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
console.log(`cell: ${(du(cache) / GB).toFixed(2)} GB allocated`);

// --- the manual way ---
const manualCell = path.join(work, 'manual', 'cortex00');
const stamp = (what) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${what}`);
const sparseCopy = async (from, to) => {
  mkdirSync(path.dirname(to), { recursive: true });
  await execa('cp', ['-a', '--sparse=always', from, to]);
};
stamp('preparing the manual copy');
await sparseCopy(cache, manualCell);
const port1 = await freePort();
let svc = await startService(manualCell, port1, FROM);
const pyLmdb = (await execa('python3', ['-c', 'import lmdb'], { reject: false })).exitCode === 0;
const mdbCopy = (await execa('which', ['mdb_copy'], { reject: false })).exitCode === 0;
if (!pyLmdb && !mdbCopy) {
  console.log('skipped: neither python3-lmdb nor mdb_copy is installed (apt-get install python3-lmdb lmdb-utils)');
  process.exit(0);
}
stamp('manual way: stop, compact copy to paths, mv, cp -R, start');
let t0 = performance.now();
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
const tCopy = performance.now() - t0;
renameSync(manualCell, `${manualCell}_old`);
await execa('cp', ['-R', backup, manualCell]);
const tCp = performance.now() - t0 - tCopy;
svc = await startService(manualCell, port1, TO);
const manualDowntime = performance.now() - t0;
await stopService(svc);

// --- synup ---
const synupWork = path.join(work, 'synup');
const synupCell = path.join(synupWork, 'cortex00');
stamp('preparing the synup copy');
await sparseCopy(cache, synupCell);
const port2 = await freePort();
writeFileSync(path.join(synupWork, 'synup.yaml'), [
  'cell: {dir: ./cortex00}',
  `changelog: ${JSON.stringify(path.join(root, 'changelogs', 'sim-CHANGELOG.rst'))}`,
  'state: {dir: ./state}',
  'backup: {dir: ./backups, maxAge: 1h}',
  `service: {stopTimeout: 30s, process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}']}}`,
  `health: {port: ${port2}, startTimeout: 120s}`,
  '',
].join('\n'));
const synupCli = (args) => execa(process.execPath, [path.join(root, 'bin', 'synup.js'), ...args], { cwd: synupWork, env: { CI: 'true' }, reject: false });
const { loadConfig } = await import('../dist/config/load.js');
const { createAdapter } = await import('../dist/service/index.js');
const adapter = createAdapter(loadConfig({ cwd: synupWork }).config, { cellDir: synupCell, stateDir: path.join(synupWork, 'state'), cwd: synupWork });
await adapter.start(FROM);
const made = await synupCli(['backup', synupCell]);
if (made.exitCode !== 0) throw new Error(made.stderr);
stamp('synup upgrade');
const up = await synupCli(['upgrade', '--to', TO, '-y']);
if (up.exitCode !== 0) throw new Error(up.stderr);
const history = JSON.parse((await synupCli(['history', '--json'])).stdout).runs.at(-1);
const defrag = history.steps.find((s) => s.name === 'cold-defrag');
t0 = performance.now();
const rb = await synupCli(['rollback', '--force', '-y']);
const rollbackMs = performance.now() - t0;
await adapter.stop({ timeoutMs: 30_000 });

const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
console.log('\n| way | downtime (stop → active) | data handling |');
console.log('| --- | --- | --- |');
console.log(`| manual (${pyLmdb ? 'py-lmdb env.copy to a path' : 'mdb_copy -c to a dir'} + mv + cp -R) | ${s(manualDowntime)} | copy ${s(tCopy)} + cp -R ${s(tCp)} |`);
console.log(`| synup upgrade (engine ${history.engine}) | ${s(history.downtimeMs)} | compact + verify ${s(defrag.durationMs)} |`);
console.log(`\nratio synup / manual: ${(history.downtimeMs / manualDowntime).toFixed(2)}×   (target ≤ 0.35×)`);
console.log(`bytes: ${(history.bytesBefore / GB).toFixed(2)} GB → ${(history.bytesAfter / GB).toFixed(2)} GB after defrag`);
console.log(`rollback (synup rollback --force: stop new, two renames, start old, wait active): ${s(rollbackMs)}, exit ${rb.exitCode}`);
rmSync(work, { recursive: true, force: true });
