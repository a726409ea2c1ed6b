#!/usr/bin/env node
// A simulated Synapse Cortex for tests, the demo and rehearsals — a real process that behaves like one where synup
// can tell: Synapse's storage layout in real LMDB envs (data format v1), the cell.guid lock, real HTTPS with a
// self-signed cert made at first boot, the real boot and migration log lines in the real order, storage
// migrations before the listener and model migrations after it, BadVersion on older code, and injectable faults.
//   node test/sim/cell.js <dir> --version 2.181.0 [--port 4443] [--seed N] [--migration-ms N] [--fault MODE[@X.Y.Z]] [--init-only]
// See options.js for every flag and env var, faults.js for the fault modes, conf.js for the cell.yaml keys it reads.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backups } from './backup.js';
import { ensureCert } from './cert.js';
import { backupDir, dmonListen, httpsPort, overriddenKeys, readCellConf, sanitizeUrl } from './conf.js';
import { corruptAPage, WRONG_VERSION } from './faults.js';
import { ensureCellGuid, lockCellGuid } from './lock.js';
import { die, log } from './log.js';
import { runModelMigrations, runStorageMigrations } from './migrate.js';
import { migratingReleases, scheduleFor, STORAGE_VERS } from './migrations.js';
import { parseOptions, USAGE, UsageError } from './options.js';
import { NexsLock } from './nexs-lock.js';
import { listenDmon, listenHttps } from './server.js';
import { stormPool } from './storm-pool.js';
import { impactAnswer } from './impact.js';
import { Replica } from './replica.js';
import { NEXUS_VERSION, SimStorage } from './storage.js';
import { compareTuples, pyTuple, toTuple } from './versions.js';

/** @type {import('./options.js').SimOptions} */
let options;
try {
  options = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`cell.js: ${error.message}\n${USAGE}\n`);
  process.exit(2);
}
const { dir, version, faults } = options;
const versionTuple = toTuple(version);

// --exit-linger-ms: the cell runs in a child of this process, which holds no data and outlives it by that long, as a
// real Cortex's main process, its envs closed, still waits on its drive workers and sub-cells before it exits.
if (options.exitLingerMs && !options.initOnly && process.env.SYN_SIM_LINGER_CHILD !== '1') {
  const cell = spawn(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, SYN_SIM_LINGER_CHILD: '1' } });
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) process.on(signal, () => cell.kill(signal));
  const [code] = await once(cell, 'exit');
  await new Promise((resolve) => setTimeout(resolve, options.exitLingerMs));
  process.exit(code ?? 1);
}

log.info(`Starting cortex version ${version}, Synapse version: ${version}`, 'cell.py:initFromArgv');
mkdirSync(dir, { recursive: true });
ensureCellGuid(dir);
const lock = lockCellGuid(dir);
if (!lock.locked) {
  if (lock.reason === 'busy') die('synapse.exc.FatalErr', `Cannot start the cortex, another process is already running it. (${lock.detail})`);
  die('synapse.exc.FatalErr', `Cannot lock ${path.join(dir, 'cell.guid')}: ${lock.detail}`);
}
const { release: releaseLock, drop: dropLock } = lock;

// The conf as Cell.initFromArgv builds it (conf.js); a bad value is fatal, as Synapse's BadConfValu at boot.
/** @type {import('./conf.js').CellConf} */
let cellConf;
/** @type {{ https: number | null, dmon: { host: string, port: number } | null, backdir: string }} */
let listen;
try {
  cellConf = readCellConf(dir);
  listen = { https: httpsPort(cellConf, options.port), dmon: dmonListen(cellConf.conf), backdir: backupDir(cellConf.conf, dir) };
} catch (error) {
  die('synapse.exc.BadConfValu', /** @type {Error} */ (error).message);
}
const { conf } = cellConf;
for (const key of overriddenKeys(cellConf, options.port)) log.info(`Set configuration override for [${key}] from [${path.resolve(dir, 'cell.mods.yaml')}]`, 'config.py:setConfFromFile');

/** @type {SimStorage | null} */
let storage = null;
/** @type {import('node:http').Server[]} the HTTPS and telepath listeners */
const servers = [];
/** @type {number | null} the port HTTPS listens on */
let httpsBound = null;
/** @type {import('node:child_process').ChildProcess | null} */
let worker = null;
/** @type {Replica | null} */
let replica = null;
let stopCalled = false;
const stopping = new AbortController();
/** Work that must settle before the envs close (the boot, the background model migration). */
const running = new Set();
/** @param {Promise<unknown>} work */
function track(work) {
  const tracked = work.finally(() => running.delete(tracked));
  running.add(tracked);
}

process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));

/** A graceful stop: stop serving, let running work reach a batch boundary, close the envs, drop the lock, exit 0. */
async function stop(/** @type {'SIGTERM' | 'SIGINT'} */ signal) {
  if (signal === 'SIGTERM' && faults.has('ignore-sigterm')) return log.warning('ignoring SIGTERM (fault ignore-sigterm)', 'base.py:addSignalHandlers');
  if (stopCalled) return;
  stopCalled = true;
  log.warning(`Caught ${signal}: shutting down.`, 'base.py:addSignalHandlers');
  if (signal === 'SIGTERM' && faults.has('late-write-on-stop') && replica?.state.active) {
    log.warning('cut off from the mirrors, taking writes until one more is acknowledged (fault late-write-on-stop)', 'nexus.py:fini');
    const late = await replica.cutOffMirrors(3000);
    log.warning(late === null ? 'no write came within 3 s (fault late-write-on-stop)' : `acknowledged a write at nexus offset ${late} no mirror has (fault late-write-on-stop)`, 'nexus.py:fini');
    await new Promise((resolve) => setTimeout(resolve, 100)); // its answer reaches the client before the listener closes
  }
  setTimeout(() => die('TimeoutError', 'the shutdown took over 5 s; exiting without closing the envs', { traceback: false }), 5000 + options.stopMs);
  stopping.abort();
  for (const server of servers) {
    server.close();
    server.closeAllConnections();
  }
  // A real Cortex tears down its sub-cells, dmon and drive workers for 0.7–2.3 s, the lock and the envs still held.
  await new Promise((resolve) => setTimeout(resolve, options.stopMs));
  await Promise.allSettled([...running]);
  await storage?.close();
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const gone = once(worker, 'exit');
    worker.kill('SIGTERM');
    await gone;
  }
  if (faults.has('corrupt-on-exit')) log.warning(`${corruptAPage(dir)} (fault corrupt-on-exit)`, 'cell.py:fini');
  releaseLock();
  log.warning('cell shutdown complete', 'cell.py:fini');
  process.exit(0);
}

/**
 * A first boot: Synapse's files and envs, a layer (its iden derived from cell.guid: same guid, same layer), `seed`
 * nodes, and the versions this release writes — storage and model already current, nothing to migrate.
 * @param {SimStorage} store
 * @param {ReturnType<typeof scheduleFor>} schedule
 */
function initialize(store, schedule) {
  const guid = readFileSync(path.join(dir, 'cell.guid'), 'utf8').trim();
  const iden = createHash('sha256').update(`layer:${guid}`).digest('hex').slice(0, 32);
  const yaml = path.join(dir, 'cell.yaml');
  if (!existsSync(yaml)) writeFileSync(yaml, '# synup simulated Synapse cell (test/sim/cell.js): its settings come from its command line\nnexslog:en: true\n');
  for (const sub of ['tmp', 'backups']) mkdirSync(path.join(dir, sub), { recursive: true });
  store.cell.transactionSync(() => {
    store.setVers('cell:storage', 2);
    store.setVers(STORAGE_VERS, schedule.storage.length);
    store.setLayerModel(iden, schedule.modelVersion);
  });
  store.seedLayer(iden, options.seed);
  store.setInfo({ 'nexus:version': NEXUS_VERSION, 'cell:version': versionTuple, 'synapse:version': versionTuple });
  log.info(`initialized cell ${guid} at ${version}: layer ${iden} with ${options.seed} nodes`, 'cell.py:_initCellBoot');
}

/** Keeps the process alive until a graceful stop begins. */
const untilStopped = () =>
  new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30);
    stopping.signal.addEventListener('abort', () => resolve(clearInterval(keepAlive)), { once: true });
  });

/**
 * The telepath listener (dmon:listen), then HTTPS (https:port; null: none), as Cell.initServiceNetwork binds them.
 * Resolves this cell's URL for its peers (its HTTPS one, else its telepath one, else null); a bind error is fatal.
 * @param {{ cert: string, key: string }} certs @param {import('./server.js').ApiState} state @returns {Promise<string | null>}
 */
async function openListeners(certs, state) {
  const api = { state, password: options.password, routes: /** @type {import('./server.js').ExtraRoutes} */ ((method, url, body) => /** @type {Replica} */ (replica).route(method, url, body)) };
  /** @type {string | null} */
  let myUrl = null;
  const bindError = (/** @type {string} */ host, /** @type {number} */ port) => (/** @type {NodeJS.ErrnoException} */ error) =>
    die('OSError', `error while attempting to bind on address ('${host}', ${port}): ${error.code ?? error.message}`);
  if (listen.dmon) {
    const { host, port } = listen.dmon;
    const listening = await listenDmon({ ...api, host, port }).catch(bindError(host, port));
    servers.push(listening.server);
    log.info(`dmon listening: ${listening.port}`, 'cell.py:_bindDmonListen');
    myUrl = `tcp://${host}:${listening.port}/`;
  }
  if (listen.https === null) {
    log.info('...cortex API (https): disabled', 'cell.py:initFromArgv');
    return myUrl;
  }
  const listening = await listenHttps({ ...certs, ...api, port: listen.https }).catch(bindError('127.0.0.1', listen.https));
  servers.push(listening.server);
  httpsBound = listening.port;
  log.info(`https listening: ${listening.port}`, 'cell.py:initServiceNetwork');
  return `https://127.0.0.1:${listening.port}/`;
}

/** Cell.getCellInfo: what $lib.cell.getCellInfo() returns (the parts the sim has). @param {SimStorage} store @param {import('./server.js').ApiState} state */
function cellInfo(store, state) {
  const rep = /** @type {Replica} */ (replica);
  const verstring = state.version.join('.');
  return {
    synapse: { version: state.version, verstring },
    cell: {
      iden: readFileSync(path.join(dir, 'cell.guid'), 'utf8').trim(),
      type: 'cortex',
      active: state.active,
      ready: rep.ready,
      nexsindx: store.nexusIndex(),
      version: state.version,
      verstring,
      mirror: rep.leaderUrl === null ? null : sanitizeUrl(rep.leaderUrl),
      aha: { name: conf['aha:name'] ?? null, leader: conf['aha:leader'] ?? null, network: conf['aha:network'] ?? null },
      network: { https: httpsBound === null ? [] : [{ host: '127.0.0.1', port: httpsBound }] },
    },
    features: {},
  };
}

async function boot() {
  const certs = await ensureCert(dir);
  if (stopping.signal.aborted) return;
  if (faults.has('crash-on-boot')) die('synapse.exc.SynErr', 'simulated crash on boot (fault crash-on-boot)');
  try {
    storage = new SimStorage(dir);
  } catch (error) {
    die('synapse.exc.BadCoreStore', /** @type {Error} */ (error).message);
  }
  const schedule = scheduleFor(version, migratingReleases());

  // As Synapse's Cell._initCellBoot: refuse older code on newer data, else record this version — before migrating.
  const stored = /** @type {number[] | undefined} */ (storage.getInfo('cell:version'));
  if (stored === undefined) initialize(storage, schedule);
  else if (compareTuples(versionTuple, stored) < 0) {
    const mesg = `Cell version regression (cortex) is not allowed! Stored version: ${pyTuple(stored)}, current version: ${pyTuple(versionTuple)}.`;
    log.error(mesg, 'cell.py:_initCellBoot');
    die('synapse.exc.BadVersion', `BadVersion: currver=${pyTuple(versionTuple)} lastver=${pyTuple(stored)} mesg='${mesg}'`, { traceback: false });
  } else if (!options.initOnly) storage.setInfo({ 'cell:version': versionTuple, 'synapse:version': versionTuple });
  if (options.initOnly) {
    await storage.close();
    releaseLock();
    process.exit(0);
  }

  // Like the real Cortex's drive worker (SYNDEV_CELL_DRIVE_NOSPAWN=1 keeps it in the main process there too): in
  // this process group, holding a reader slot; ended with this process unless that is SIGKILLed.
  if (process.env.SYNDEV_CELL_DRIVE_NOSPAWN !== '1') {
    worker = spawn(process.execPath, [fileURLToPath(new URL('./worker.js', import.meta.url)), dir], { stdio: 'ignore' });
    process.on('exit', () => worker?.kill('SIGTERM'));
  }

  const durationMs = options.migrationMs / 2;
  const store = storage;
  /** The migrations an active cell runs, and what they did (for the nexus entry its mirrors replay). */
  const models = () => Object.fromEntries(store.layerIdens().map((iden) => [iden, store.layerModel(iden)]));
  const migrate = async () => {
    const before = { storage: store.getVers(STORAGE_VERS), model: JSON.stringify(models()) };
    const ran = await runStorageMigrations({ storage: store, migrations: schedule.storage, durationMs, dieMidway: faults.has('die-mid-migration'), signal: stopping.signal });
    await runModelMigrations({ storage: store, revisions: schedule.model, durationMs, signal: stopping.signal, storm });
    if (ran === 0 && JSON.stringify(models()) === before.model) return null;
    return { storage: store.getVers(STORAGE_VERS), releases: schedule.storage.slice(before.storage, before.storage + ran), model: models() };
  };
  // A mirror (mirror: in cell.yaml / cell.mods.yaml) follows its leader and runs no migration until promoted.
  const storm = stormPool(options.stormStartMs);
  const nexsLock = new NexsLock();
  const backups = new Backups({ dir, backdir: listen.backdir, envs: () => store.envs(), nexsLock, dropLock, track });
  /** @type {import('./server.js').ApiState} */
  const state = {
    active: false,
    version: faults.has('wrong-version') ? WRONG_VERSION : versionTuple,
    storm,
    impact: (names) => impactAnswer(dir, store, state.version, names),
    runBackup: (name, wait) => backups.run(name, wait),
    cellInfo: () => cellInfo(store, state),
  };
  const nexus = new Replica({ dir, conf, storage, state, signal: stopping.signal, migrate, track, nexsLock, applyMs: options.mirrorApplyMs });
  replica = nexus;
  if (!replica.isMirror) {
    const before = storage.getVers(STORAGE_VERS);
    const ran = await runStorageMigrations({ storage, migrations: schedule.storage, durationMs, dieMidway: faults.has('die-mid-migration'), signal: stopping.signal });
    if (ran > 0) await replica.push(['sim:migrated', { storage: storage.getVers(STORAGE_VERS), releases: schedule.storage.slice(before, before + ran), model: {} }]);
  }
  if (stopping.signal.aborted) return;
  if (faults.has('hang-before-active')) {
    log.warning('hanging before the listener is up (fault hang-before-active)', 'cell.py:initServiceNetwork');
    return untilStopped();
  }

  // Active (the leader) before the listener: the model migration starts first and runs in the background.
  state.active = !replica.isMirror && !faults.has('never-active');
  if (state.active) {
    const before = JSON.stringify(models());
    track(
      runModelMigrations({ storage, revisions: schedule.model, durationMs, signal: stopping.signal, storm }).then(async () => {
        if (!stopping.signal.aborted && JSON.stringify(models()) !== before) await nexus.push(['sim:migrated', { storage: store.getVers(STORAGE_VERS), releases: [], model: models() }]);
      }),
    );
  }
  // The real Cortex logs `beginning model migration` 60–100 ms before `https listening`, and is active right after.
  await new Promise((resolve) => setTimeout(resolve, 60 + Math.random() * 40));
  const myUrl = await openListeners(certs, state);
  if (stopping.signal.aborted) return;
  replica.myUrl = myUrl;
  if (replica.isMirror) {
    replica.follow();
    return log.info(`cell is passive (mirror of ${sanitizeUrl(String(replica.leaderUrl))})`, 'cell.py:setCellActive');
  }
  log.info(state.active ? 'cell is active (leader)' : 'cell is not active (fault never-active)', 'cell.py:setCellActive');
  if (faults.has('drop-lock')) {
    dropLock();
    log.info(`dropped the lock on ${path.join(dir, 'cell.guid')}, the file still open, as after a live backup (fault drop-lock)`, 'cell.py:_execBackupTask');
  }
  // Synapse logs many non-fatal errors with a full traceback (a failing Storm dmon, here); the cell runs on.
  log.exception('Dmon query exited: sim-dmon', 'storm.py:dmonloop', 'synapse.exc.NoSuchForm: No form named sim:gone. mesg=\'No form named sim:gone.\'');
}

track(boot().catch((error) => die('synapse.exc.SynErr', /** @type {Error} */ (error).stack ?? String(error))));
