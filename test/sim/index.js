// Helpers for tests, the demo and benchmarks that drive the simulated cell (test/sim/cell.js) as a real process.
// Every wait is bounded; children still running when the calling process exits are killed.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export { FAULT_MODES, FAULTS, WRONG_VERSION } from './faults.js';
export { SIM_CHANGELOG } from './migrations.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Absolute path of the sim's entry point, for command templates: [process.execPath, SIM_CELL_JS, '{dir}', '--version', '{version}'] */
export const SIM_CELL_JS = path.join(here, 'cell.js');
const INSPECT_JS = path.join(here, 'inspect.js');

/** @typedef {{ code: number | null, signal: NodeJS.Signals | null }} Exit */

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();
/** Sims started by startSim lead their own process group (their drive worker is in it): signals go to the group. */
/** @type {Set<number>} */
const groups = new Set();
/** @param {number} pgid @param {NodeJS.Signals} signal */
function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    groups.delete(pgid); // ESRCH: the group is gone
  }
}
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
});

/**
 * Runs a script of the sim to its end (bounded): resolves with stdout, rejects with the output when it fails.
 * @param {string} script
 * @param {string[]} args
 * @param {number} timeoutMs
 * @returns {Promise<string>}
 */
function runToEnd(script, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${path.basename(script)} ${args.join(' ')} ${signal ? `killed by ${signal} (timeout ${timeoutMs} ms?)` : `exited ${code}`}:\n${stdout}${stderr}`));
    });
  });
}

/** A free TCP port on 127.0.0.1 (free when asked: bind it soon). @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Creates a cell's storage without serving it (a first boot with --init-only): Synapse's layout at `version`,
 * one layer with `seed` nodes. On an existing cell it only checks the lock and that `version` is not older.
 * @param {string} dir
 * @param {{ version: string, seed?: number, timeoutMs?: number }} options
 * @returns {Promise<{ guid: string, layers: string[] }>}
 */
export async function createSimCell(dir, { version, seed = 0, timeoutMs = 120_000 }) {
  await runToEnd(SIM_CELL_JS, [dir, '--version', version, '--seed', String(seed), '--init-only'], timeoutMs);
  return { guid: readFileSync(path.join(dir, 'cell.guid'), 'utf8').trim(), layers: readdirSync(path.join(dir, 'layers')).sort() };
}

/**
 * @typedef {object} SimCellState  what `node test/sim/inspect.js <dir>` prints
 * @property {string} guid
 * @property {string | null} cellVersion
 * @property {string | null} synapseVersion
 * @property {string | null} nexusVersion
 * @property {number} nexusIndex  the offset the next nexus entry takes (Synapse's getNexsIndx)
 * @property {Record<string, unknown>} vers  cell:vers (cell:storage, sim:storage: storage migrations applied)
 * @property {{ iden: string, modelVersion: string | null, nodes: number, migrated: Record<string, number> }[]} layers
 *   migrated: per release, how many nodes its storage migration rewrote
 */

/**
 * Reads a sim cell's data in a child process (read-only; fine while the cell runs; no env stays open here).
 * @param {string} dir
 * @param {{ names?: boolean }} [options]  names: also the names of the nodes clients wrote (POST /api/v1/sim/nodes)
 * @returns {Promise<SimCellState & { names?: string[] }>}
 */
export async function inspectSimCell(dir, { names = false } = {}) {
  return JSON.parse(await runToEnd(INSPECT_JS, names ? [dir, '--names'] : [dir], 60_000));
}

/**
 * GET from a sim's HTTPS API (POST of `body` as JSON when given), trusting only the cell's own sslcert.pem (and
 * checking it names 127.0.0.1).
 * @param {{ dir: string, port: number, path: string, auth?: { user: string, password: string }, body?: unknown, timeoutMs?: number }} options
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, json: any }>}
 */
export function simRequest({ dir, port, path: route, auth, body: payload, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    /** @type {Record<string, string>} */
    const headers = auth ? { authorization: 'Basic ' + Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } : {};
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const method = payload === undefined ? 'GET' : 'POST';
    const req = https.request({ host: '127.0.0.1', port, path: route, method, ca: readFileSync(path.join(dir, 'sslcert.pem')), headers, timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(body) });
        } catch {
          reject(new Error(`${method} ${route}: HTTP ${res.statusCode} with a body that is not JSON: ${body.slice(0, 200)}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

/**
 * @typedef {object} SimProcess
 * @property {import('node:child_process').ChildProcessByStdio<null, import('node:stream').Readable, import('node:stream').Readable>} child
 * @property {number | null} port  the --port it was given (null: none; the conf files or 4443 decide)
 * @property {Promise<Exit>} exited  settles once the process is gone and its output read
 * @property {() => string} log  everything it wrote so far (stdout and stderr, interleaved as received)
 * @property {(re: RegExp, timeoutMs?: number) => Promise<string>} waitForLog  the first line matching `re`;
 *   rejects at the timeout (default 30 s) or when the process exits first, with the log in the message
 * @property {(signal?: NodeJS.Signals, timeoutMs?: number) => Promise<Exit>} stop  sends `signal` (SIGTERM) to the sim's
 *   process group (the sim and its drive worker), then
 *   SIGKILL after `timeoutMs` (10 s); resolves with how it ended (at once if it already had)
 */

/**
 * Starts the sim serving `dir` (a first boot if the dir has no cell yet).
 * @param {{ dir: string, version: string, port: number | null, env?: Record<string, string>, faults?: string[], migrationMs?: number, seed?: number, args?: string[] }} options
 *   port: --port (null: no --port); faults: `MODE` or `MODE@X.Y.Z` (as --fault); args: any further cell.js flags
 * @returns {SimProcess}
 */
export function startSim({ dir, version, port, env = {}, faults = [], migrationMs, seed, args = [] }) {
  const argv = [SIM_CELL_JS, dir, '--version', version, ...(port === null ? [] : ['--port', String(port)]), ...faults.flatMap((f) => ['--fault', f]), ...args];
  if (migrationMs !== undefined) argv.push('--migration-ms', String(migrationMs));
  if (seed !== undefined) argv.push('--seed', String(seed));
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, detached: true });
  live.add(child);
  const pgid = /** @type {number} */ (child.pid);
  groups.add(pgid);
  let output = '';
  let partial = '';
  /** @type {Set<(line: string) => void>} */
  const listeners = new Set();
  /** @param {Buffer} chunk */
  const onData = (chunk) => {
    output += chunk;
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) for (const listener of [...listeners]) listener(line);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  /** @type {Promise<Exit>} */
  const exited = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;

  return {
    child,
    port,
    exited,
    log: () => output,
    waitForLog(re, timeoutMs = 30_000) {
      const seen = output.split('\n').slice(0, -1).find((line) => re.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        /** @param {string} line */
        const listener = (line) => {
          if (re.test(line)) settle(() => resolve(line));
        };
        const timer = setTimeout(() => settle(() => reject(new Error(`no log line matched ${re} within ${timeoutMs} ms; sim log:\n${output}`))), timeoutMs);
        /** @param {() => void} fn */
        const settle = (fn) => {
          clearTimeout(timer);
          listeners.delete(listener);
          fn();
        };
        listeners.add(listener);
        void exited.then(({ code, signal }) => {
          if (listeners.has(listener)) settle(() => reject(new Error(`the sim exited (${signal ?? `code ${code}`}) before a log line matched ${re}; sim log:\n${output}`)));
        });
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (!gone()) {
        signalGroup(pgid, signal);
        const kill = setTimeout(() => signalGroup(pgid, 'SIGKILL'), timeoutMs);
        await exited.finally(() => clearTimeout(kill));
      }
      // What outlived the sim (its worker, when the sim itself was SIGKILLed) goes too.
      signalGroup(pgid, 'SIGKILL');
      return exited;
    },
  };
}
