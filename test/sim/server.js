// The sim's HTTPS API on 127.0.0.1, with the cell's own certificate:
//   GET /api/v1/active     {"status":"ok","result":{"active":bool}}  (no auth, as in Synapse)
//   GET /api/v1/core/info  {"status":"ok","result":{"version":[2,181,0],"modeldef":…}}  ~1.55 MB, like the real Cortex's
//                          whole data model (HTTP basic auth as root when a password is set)
//   POST /api/v1/storm/call {"query":"return($lib.version.synapse())"} → {"status":"ok","result":[2,181,0]} (same auth;
//                          the only Storm the sim knows)
//   /api/v1/sim/…          the replication API of replica.js (nexus, client writes, promote, handoff)
//   anything else          404 {"status":"err","code":"NoSuchPath",…}
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
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
 */

/** The real Cortex's /api/v1/core/info carries its whole data model: 1,478,239 bytes on 2.242.0, 1,509,314 on 2.250.0. */
const MODEL_BYTES = 1_550_000;
/** A deterministic stand-in for the data model, as large as the real one. */
const modeldef = Object.fromEntries(
  Array.from({ length: Math.ceil(MODEL_BYTES / 100) }, (_, i) => [`sim:form${i}`, { doc: 'A simulated form, here to make core/info as large as a real one.', i }]),
);
const VERSION_QUERY = 'return($lib.version.synapse())';

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

/**
 * Listens; resolves with the server and the bound port, rejects with the listen error (e.g. EADDRINUSE).
 * @param {{ cert: string, key: string, port: number, state: ApiState, password?: string, routes?: ExtraRoutes }} options  cert/key: file paths
 * @returns {Promise<{ server: https.Server, port: number }>}
 */
export function listenHttps({ cert, key, port, state, password, routes }) {
  const server = https.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    if (LOG_REQUESTS) {
      const begun = performance.now();
      res.on('finish', () => log.info(`${res.statusCode} ${req.method} ${req.url} (127.0.0.1) ${(performance.now() - begun).toFixed(2)}ms`, 'cell.py:_log_web_request'));
    }
    /** @param {number} status @param {object} body @param {Record<string, string>} [headers] */
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
      res.end(JSON.stringify(body));
    };
    const route = new URL(req.url ?? '/', 'https://localhost').pathname;
    if (req.method !== 'GET' && (route === '/api/v1/active' || route === '/api/v1/core/info')) {
      return send(405, { status: 'err', code: 'MethodNotAllowed', mesg: `${req.method} is not allowed on ${route}` }, { allow: 'GET' });
    }
    if (route === '/api/v1/active') return send(200, { status: 'ok', result: { active: state.active } });
    const notAuthenticated = () => send(401, { status: 'err', code: 'NotAuthenticated', mesg: 'The session is not logged in.' }, { 'www-authenticate': 'Basic realm=synapse' });
    if (route === '/api/v1/core/info') {
      if (!authorized(req, password)) return notAuthenticated();
      return send(200, { status: 'ok', result: { version: state.version, modeldef } });
    }
    if (route === '/api/v1/storm/call') {
      if (!authorized(req, password)) return notAuthenticated();
      return void readJson(req).then((body) => {
        const query = /** @type {{ query?: unknown } | undefined} */ (body)?.query;
        const opts = /** @type {{ opts?: { readonly?: unknown, vars?: { names?: unknown } } } | undefined} */ (body)?.opts;
        // synup check's one query (src/health/storm.ts IMPACT_QUERY): recognized by what it calls, answered from the
        // sim's data. Like a real Cortex, only with its vars; unlike one, only read-only (synup must ask so).
        if (typeof query === 'string' && state.impact && query.includes('$lib.cron.list()') && query.includes('getFormCounts()')) {
          if (opts?.readonly !== true) return send(200, { status: 'err', code: 'SimRefused', mesg: 'the sim answers the impact query only with opts.readonly = true' });
          const names = opts.vars?.names;
          if (!Array.isArray(names)) return send(200, { status: 'err', code: 'NoSuchVar', mesg: 'Missing variable: names' });
          const impact = state.impact;
          return state.storm.ready().then(() => send(200, { status: 'ok', result: impact(names.map(String)) }));
        }
        if (query !== VERSION_QUERY) return send(200, { status: 'err', code: 'BadSyntax', mesg: `the sim runs only ${VERSION_QUERY} and synup's impact query` });
        return state.storm.ready().then(() => send(200, { status: 'ok', result: state.version }));
      });
    }
    const extra = routes?.(req.method ?? 'GET', new URL(req.url ?? '/', 'https://localhost'), () => readJson(req));
    if (extra) return void extra.then(([status, body]) => send(status, body), (/** @type {Error} */ e) => send(500, { status: 'err', code: 'SynErr', mesg: e.message }));
    return send(404, { status: 'err', code: 'NoSuchPath', mesg: `No such path: ${route}` });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      const address = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve({ server, port: address.port });
    });
  });
}
