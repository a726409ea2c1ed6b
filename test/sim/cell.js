#!/usr/bin/env node
// A simulated Synapse cell: real LMDB envs in Synapse's layout (data format v1), a cell.guid lock, real HTTPS with a
// self-signed cert, the real Cortex's boot and migration log lines, BadVersion on downgrade, and fault injection.
//   node test/sim/cell.js <dir> --version 2.181.0 [--port 4443] [--seed N] [--migration-ms N] [--fault MODE[@VER]] [--init-only]
// Env: SYNUP_SIM_FAULT=MODE[@VERSION][,…], SYNUP_SIM_MIGRATION_MS, SYNUP_SIM_PASSWORD (basic auth for /api/v1/core/info).
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from 'selfsigned';
import { migrationsBetween } from './migrations.js';
import { compareVersions, ensureCellFiles, fromTuple, NEXUS_VERSION, SimStorage, toTuple } from './storage.js';

const FAULTS = ['crash-on-boot', 'hang-before-active', 'never-active', 'wrong-version', 'die-mid-migration', 'ignore-sigterm', 'corrupt-on-exit'];

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: 'string' },
    port: { type: 'string', default: '4443' },
    seed: { type: 'string', default: '0' },
    'migration-ms': { type: 'string' },
    fault: { type: 'string', multiple: true, default: [] },
    'init-only': { type: 'boolean', default: false },
  },
});

const log = (msg) => process.stdout.write(`${new Date().toISOString()} [sim] ${msg}\n`);
const die = (msg, code = 1) => {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = positionals[0];
const version = values.version;
if (!dir || !version || !/^\d+\.\d+\.\d+$/.test(version)) die('usage: cell.js <dir> --version X.Y.Z [--port N] [--seed N] [--fault MODE[@VERSION]]', 2);
const port = Number(values.port);
const migrationMs = Number(values['migration-ms'] ?? process.env.SYNUP_SIM_MIGRATION_MS ?? 1500);

/** Faults apply to every version, or only to the one after `@` (so a rollback to the old version is healthy). */
const faults = new Set(
  [...values.fault, ...(process.env.SYNUP_SIM_FAULT ?? '').split(',')]
    .map((f) => f.trim())
    .filter(Boolean)
    .filter((f) => {
      const [mode, only] = f.split('@');
      if (!FAULTS.includes(mode)) die(`unknown fault ${mode}; known: ${FAULTS.join(', ')}`, 2);
      return !only || only === version;
    })
    .map((f) => f.split('@')[0]),
);

const guid = ensureCellFiles(dir);

// Exclusive lock on cell.guid for our whole life: flock(1) locks our own open file description (fd 3 inherited),
// so the lock dies with this process, whatever kills it — and shows in /proc/locks like Synapse's.
const lockFd = openSync(path.join(dir, 'cell.guid'), 'r');
const locked = spawnSync('flock', ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'inherit', lockFd] });
if (locked.error) die(`cannot lock cell.guid: ${locked.error.message} (the sim needs util-linux flock)`);
if (locked.status !== 0) die(`Cell ${dir} is already in use by another process (cell.guid is locked)`);

async function ensureCert() {
  const cert = path.join(dir, 'sslcert.pem');
  if (existsSync(cert)) return;
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    days: 3650,
    keySize: 2048,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  writeFileSync(path.join(dir, 'sslkey.pem'), pems.private, { mode: 0o600 });
  writeFileSync(cert, pems.cert);
}

await ensureCert();
const storage = new SimStorage(dir);
let server = null;
let active = false;
let stopping = false;

async function shutdown(signal) {
  if (stopping) return;
  if (faults.has('ignore-sigterm') && signal === 'SIGTERM') {
    log('ignoring SIGTERM');
    return;
  }
  stopping = true;
  log(`${signal}: shutting down`);
  server?.close();
  server?.closeAllConnections?.();
  await storage.close();
  if (faults.has('corrupt-on-exit')) corruptALayer();
  log('cell shutdown complete');
  closeSync(lockFd);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

/** Smashes the header of the layer env's main-db root page (read from the newest meta page): a real, in-use page. */
function corruptALayer() {
  const layers = path.join(dir, 'layers');
  for (const iden of existsSync(layers) ? readdirSync(layers) : []) {
    const file = path.join(layers, iden, 'layer_v2.lmdb', 'data.mdb');
    const head = readFileSync(file).subarray(0, 2 * 4096);
    const meta = (base) => ({ root: head.readBigUInt64LE(base + 16 + 24 + 48 + 40), txn: head.readBigUInt64LE(base + 16 + 24 + 96 + 8) });
    const [a, b] = [meta(0), meta(4096)];
    const root = Number(b.txn > a.txn ? b.root : a.root);
    const fd = openSync(file, 'r+');
    writeFileSync(fd, Buffer.alloc(16, 0xa5), { position: root * 4096 });
    closeSync(fd);
    log(`corrupted page ${root} of ${file}`);
    return;
  }
}

// First boot: make the layout, seed data.
const lastVersion = fromTuple(storage.getInfo('cell:version'));
if (lastVersion === null) {
  const iden = guid.split('').reverse().join('');
  await storage.addLayer(iden, [0, 2, 30]);
  await storage.vers.put(Buffer.from('cell:storage'), Buffer.from([1]));
  await storage.setInfo('nexus:version', NEXUS_VERSION);
  const seed = Number(values.seed);
  if (seed > 0) await storage.seed(iden, seed);
  await storage.setInfo('cell:version', toTuple(version));
  await storage.setInfo('synapse:version', toTuple(version));
  log(`initialized cell ${guid} at ${version}${seed ? ` with ${seed} nodes` : ''}`);
}
if (values['init-only']) {
  await storage.close();
  closeSync(lockFd);
  process.exit(0);
}

if (faults.has('crash-on-boot')) die('Traceback (most recent call last):\n  synapse.exc.SynErr: simulated crash on boot (fault crash-on-boot)');

const dataVersion = fromTuple(storage.getInfo('cell:version')) ?? version;
if (compareVersions(version, dataVersion) < 0) {
  die(`synapse.exc.BadVersion: Cell version regression (${dataVersion}) is not allowed! Stored version: ${dataVersion}, current version: ${version}`);
}

// Storage migrations run before the HTTPS listener is up (probes fail meanwhile).
const pending = migrationsBetween(dataVersion, version);
for (const v of pending) {
  log('Migrating Drive Slabs');
  const total = storage.countNodes();
  const stopAfter = faults.has('die-mid-migration') ? Math.max(1, Math.floor(total / 2)) : Infinity;
  const batches = Math.max(1, Math.ceil(total / 500));
  const migrated = await storage.migrateNodes(v, { pauseMs: Math.floor(migrationMs / 2 / batches), stopAfter });
  if (migrated >= stopAfter) die(`Traceback (most recent call last):\n  died in the middle of the ${v} storage migration after ${migrated}/${total} nodes (fault die-mid-migration)`);
  log('...Drive migration complete!');
  log('Building user email index');
  log('...email index complete!');
}
await storage.setInfo('cell:version', toTuple(version));
await storage.setInfo('synapse:version', toTuple(version));

if (faults.has('hang-before-active')) {
  log('hanging before the listener is up (fault hang-before-active)');
  setInterval(() => undefined, 1 << 30);
} else {
  const reportedVersion = faults.has('wrong-version') ? '2.0.0' : version;
  server = https.createServer({ cert: readFileSync(path.join(dir, 'sslcert.pem')), key: readFileSync(path.join(dir, 'sslkey.pem')) }, (req, res) => {
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/api/v1/active') return send(200, { status: 'ok', result: { active } });
    if (req.url === '/api/v1/core/info') {
      const password = process.env.SYNUP_SIM_PASSWORD;
      const expected = password ? 'Basic ' + Buffer.from(`root:${password}`).toString('base64') : null;
      if (expected && req.headers.authorization !== expected) return send(401, { status: 'err', code: 'NotAuthenticated', mesg: 'Authentication required' });
      return send(200, { status: 'ok', result: { version: toTuple(reportedVersion) } });
    }
    return send(404, { status: 'err', code: 'NoSuchPath', mesg: `No such path: ${req.url}` });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  }).catch((error) => die(`cannot listen on 127.0.0.1:${port}: ${error.code ?? error.message}`));
  log(`https listening: ${port}`);
  active = !faults.has('never-active');
  if (active) log('cell is active (leader)');

  // Data-model migrations run in the background on the leader, after the listener is up: active ≠ migrated.
  if (pending.length > 0) {
    const model = [0, 2, 30 + pending.length];
    log(`beginning model migration -> (${model.join(', ')})`);
    await sleep(migrationMs / 2);
    for (const iden of storage.layerIdens()) await storage.setLayerModel(iden, model);
    log('...model migrations complete!');
  }
}
