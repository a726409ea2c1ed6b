// The sim's HTTPS API on 127.0.0.1, with the cell's own certificate:
//   GET /api/v1/active     {"status":"ok","result":{"active":bool}}  (no auth, as in Synapse)
//   GET /api/v1/core/info  {"status":"ok","result":{"version":[2,181,0],"modeldef":…}}  ~1.55 MB, like the real Cortex's
//                          whole data model (HTTP basic auth as root when a password is set)
//   POST /api/v1/storm/call {"query": …, "opts": …} (same auth): the few Storm queries the sim knows (STORM below)
//   /api/v1/sim/…          the replication API of replica.js (nexus, client writes, promote, handoff)
//   anything else          404 {"status":"err","code":"NoSuchPath",…}
// The same API, in plain HTTP, is the sim's "telepath" (dmon:listen tcp://HOST:PORT/): there every route needs the
// credentials when a password is set, as a telepath session is authenticated before anything is called.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { log } from './log.js';

/** SYN_SIM_LOG_REQUESTS=1: every request logged as Synapse's `_log_web_request` does (tornado's access log, INFO). */
const LOG_REQUESTS = process.env.SYN_SIM_LOG_REQUESTS === '1';

/**
 * @typedef {object} ApiState
 * @property {boolean} active
 * @property {number[]} version  what /api/v1/core/info reports
 * @property {import('./storm-pool.js').StormPool} storm  the parser pool every Storm query waits for
 * @property {(names: string[]) => unknown} [impact]  the answer to synup's impact query (synup check)
 * @property {(name: string | null, wait: boolean) => Promise<string>} [runBackup]  $lib.backup.run (Cell.runBackup)
 * @property {() => object} [cellInfo]  $lib.cell.getCellInfo() (Cell.getCellInfo)
 */

/** The real Cortex's /api/v1/core/info carries its whole data model: 1,478,239 bytes on 2.242.0, 1,509,314 on 2.250.0. */
const MODEL_BYTES = 1_550_000;
/** A deterministic stand-in for the data model, as large as the real one. */
const modeldef = Object.fromEntries(
  Array.from({ length: Math.ceil(MODEL_BYTES / 100) }, (_, i) => [`sim:form${i}`, { doc: 'A simulated form, here to make core/info as large as a real one.', i }]),
);
const VERSION_QUERY = 'return($lib.version.synapse())';
const CELL_INFO_QUERY = 'return($lib.cell.getCellInfo())';
/** `[return(]$lib.backup.run(name=$name, wait=$lib.true)[)]`: name= a variable or absent, wait= $lib.true/$lib.false. */
const BACKUP_QUERY = /^\s*(return\(\s*)?\$lib\.backup\.run\(\s*(?:name=\$(\w+))?\s*,?\s*(?:wait=\$lib\.(true|false))?\s*\)\s*(\))?\s*$/;

/** @param {import('node:http').IncomingMessage} req @returns {Promise<unknown>} */
async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** @param {string} text */
const digest = (text) => createHash('sha256').update(text).digest();

/**
 * @param {import('node:http').IncomingMessage} req
 * @param {string | undefined} password
 */
function authorized(req, password) {
  if (!password) return true;
  return timingSafeEqual(digest(req.headers.authorization ?? ''), digest('Basic ' + Buffer.from(`root:${password}`).toString('base64')));
}

/**
 * @typedef {(method: string, url: URL, body: () => Promise<any>) => Promise<[number, object]> | null} ExtraRoutes
 *   more routes (the replication API of replica.js): null when the path is not theirs
 */

/** @typedef {import('node:http').IncomingMessage} Req */
/** @typedef {(status: number, body: object, headers?: Record<string, string>) => void} Send */
/** @typedef {{ query?: unknown, opts?: { readonly?: unknown, vars?: Record<string, unknown> } } | undefined} StormBody */

/** A Storm error as /api/v1/storm/call answers one (Synapse's _handleStormErr: 400). @param {Send} send @param {any} error */
const stormErr = (send, error) => send(400, { status: 'err', code: error.code ?? 'SynErr', mesg: error.message });

/**
 * POST /api/v1/storm/call: the version query, synup check's impact query, $lib.backup.run and $lib.cell.getCellInfo().
 * @param {StormBody} body @param {ApiState} state @param {Send} send
 */
function stormCall(body, state, send) {
  const query = body?.query;
  const opts = body?.opts;
  // synup check's one query (src/health/storm.ts IMPACT_QUERY): recognized by what it calls, answered from the
  // sim's data. Like a real Cortex, only with its vars; unlike one, only read-only (synup must ask so).
  if (typeof query === 'string' && state.impact && query.includes('$lib.cron.list()') && query.includes('getFormCounts()')) {
    if (opts?.readonly !== true) return send(200, { status: 'err', code: 'SimRefused', mesg: 'the sim answers the impact query only with opts.readonly = true' });
    const names = opts.vars?.names;
    if (!Array.isArray(names)) return send(200, { status: 'err', code: 'NoSuchVar', mesg: 'Missing variable: names' });
    const impact = state.impact;
    return state.storm.ready().then(() => send(200, { status: 'ok', result: impact(names.map(String)) }));
  }
  const backup = typeof query === 'string' ? BACKUP_QUERY.exec(query) : null;
  if (backup && state.runBackup && Boolean(backup[1]) === Boolean(backup[4])) {
    const [, returns, variable, wait] = backup;
    const vars = opts?.vars ?? {};
    if (variable !== undefined && !(variable in vars)) return send(400, { status: 'err', code: 'NoSuchVar', mesg: `Missing variable: ${variable}` });
    const name = variable === undefined || vars[variable] === null ? null : String(vars[variable]);
    const runBackup = state.runBackup;
    return state.storm.ready().then(() => runBackup(name, wait !== 'false')).then((ran) => send(200, { status: 'ok', result: returns ? ran : null }), (error) => stormErr(send, error));
  }
  if (query === CELL_INFO_QUERY && state.cellInfo) {
    const cellInfo = state.cellInfo;
    return state.storm.ready().then(() => send(200, { status: 'ok', result: cellInfo() }));
  }
  if (query !== VERSION_QUERY) return send(200, { status: 'err', code: 'BadSyntax', mesg: `the sim runs only ${VERSION_QUERY}, ${CELL_INFO_QUERY}, $lib.backup.run(name=$name, wait=$lib.true) and synup's impact query` });
  return state.storm.ready().then(() => send(200, { status: 'ok', result: state.version }));
}

/**
 * @typedef {object} ApiOptions
 * @property {ApiState} state
 * @property {string} [password]
 * @property {ExtraRoutes} [routes]
 */

/**
 * The request handler of both listeners. `authAll`: every route needs the credentials (the telepath listener).
 * @param {ApiOptions & { authAll: boolean }} options
 * @returns {(req: Req, res: import('node:http').ServerResponse) => void}
 */
function handler({ state, password, routes, authAll }) {
  return (req, res) => {
    if (LOG_REQUESTS) {
      const begun = performance.now();
      res.on('finish', () => log.info(`${res.statusCode} ${req.method} ${req.url} (127.0.0.1) ${(performance.now() - begun).toFixed(2)}ms`, 'cell.py:_log_web_request'));
    }
    /** @type {Send} */
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const route = new URL(req.url ?? '/', 'https://localhost').pathname;
    const notAuthenticated = () => send(401, { status: 'err', code: 'NotAuthenticated', mesg: 'The session is not logged in.' }, { 'www-authenticate': 'Basic realm=synapse' });
    if (authAll && !authorized(req, password)) return notAuthenticated();
    if (req.method !== 'GET' && (route === '/api/v1/active' || route === '/api/v1/core/info')) {
      return send(405, { status: 'err', code: 'MethodNotAllowed', mesg: `${req.method} is not allowed on ${route}` }, { allow: 'GET' });
    }
    if (route === '/api/v1/active') return send(200, { status: 'ok', result: { active: state.active } });
    if (route === '/api/v1/core/info') {
      if (!authorized(req, password)) return notAuthenticated();
      return send(200, { status: 'ok', result: { version: state.version, modeldef } });
    }
    if (route === '/api/v1/storm/call') {
      if (!authorized(req, password)) return notAuthenticated();
      return void readJson(req).then((body) => stormCall(/** @type {StormBody} */ (body), state, send));
    }
    const extra = routes?.(req.method ?? 'GET', new URL(req.url ?? '/', 'https://localhost'), () => readJson(req));
    if (extra) return void extra.then(([status, body]) => send(status, body), (/** @type {Error} */ e) => send(500, { status: 'err', code: 'SynErr', mesg: e.message }));
    return send(404, { status: 'err', code: 'NoSuchPath', mesg: `No such path: ${route}` });
  };
}

/**
 * Binds `server`; resolves with it and the bound port, rejects with the listen error (e.g. EADDRINUSE).
 * @template {http.Server} S @param {S} server @param {string} host @param {number} port @returns {Promise<{ server: S, port: number }>}
 */
function bind(server, host, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve({ server, port: address.port });
    });
  });
}

/**
 * The HTTPS API on 127.0.0.1.
 * @param {ApiOptions & { cert: string, key: string, port: number }} options  cert/key: file paths
 * @returns {Promise<{ server: https.Server, port: number }>}
 */
export function listenHttps({ cert, key, port, ...api }) {
  return bind(https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, handler({ ...api, authAll: false })), '127.0.0.1', port);
}

/**
 * The sim's telepath listener (dmon:listen): the same API in plain HTTP on `host`, every route authenticated.
 * @param {ApiOptions & { host: string, port: number }} options
 * @returns {Promise<{ server: http.Server, port: number }>}
 */
export function listenDmon({ host, port, ...api }) {
  return bind(http.createServer(handler({ ...api, authAll: true })), host, port);
}
