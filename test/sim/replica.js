// Leader and mirror, as Synapse's nexus does it (synapse/lib/nexus.py, cell.py promote/handoff), over the sim's HTTPS
// or its telepath listener:
//   - every change a leader makes is a nexus entry (offset → entry) applied after it is recorded; a mirror (cell.yaml /
//     cell.mods.yaml `mirror: https://127.0.0.1:PORT/`, or `tcp://USER:PASS@HOST:PORT/` through the leader's
//     dmon:listen, authenticated) pulls the leader's entries from its index on and applies
//     them at the same offsets, so "caught up" is "my nexus index reached the leader's"; entries are recorded and
//     applied under the nexslock (nexs-lock.js), which a backup holds;
//   - a mirror is passive (/api/v1/active false), refuses writes, runs no migration;
//   - promote(graceful): the mirror asks its leader to hand off: the leader stops taking writes, waits until the
//     mirror has its last entry, promotes it, becomes its mirror (mirror: in its cell.mods.yaml); promote(failure):
//     the mirror just takes over. The new leader runs its pending migrations and records them as a nexus entry, which
//     its mirrors replay.
//   - AHA, in miniature: `sim:aha: <dir>` in cell.yaml is the AHA server (a dir); the active cell with
//     `aha:leader: <name>` registers its URL there as the file <name> (at boot, and when promoted), and a mirror of
//     `aha://<name>/` follows whichever cell that names now, as a Synapse mirror of `aha://<leader alias>…` does.
// Routes (JSON bodies, Synapse's {"status": "ok"|"err", …} envelope):
//   GET  /api/v1/sim/nexus/indx           {"result": {"indx": N}}
//   GET  /api/v1/sim/nexus?offs=N&max=M   {"result": {"indx": N, "items": [[offs, entry], …]}}
//   POST /api/v1/sim/nodes {"name"}       a client write: {"result": {"offs": N}} once durable on the leader
//   POST /api/v1/sim/promote {"graceful", "waitOffs"?}
//   POST /api/v1/sim/handoff {"url"}      (leader; called by the mirror's graceful promote)
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { sanitizeUrl } from './conf.js';
import { log } from './log.js';
import { STORAGE_VERS } from './migrations.js';

const POLL_MS = 100;
const BATCH = 1000;
/** How long a mirror's request for entries may wait for the next one (the leader answers as soon as one is recorded). */
const STREAM_WAIT_MS = 1000;
const HANDOFF_TIMEOUT_MS = 30_000;

/** @typedef {import('./storage.js').SimStorage} SimStorage */
/** @typedef {['sim:node:add', { name: string }] | ['sim:migrated', { storage: number, releases: string[], model: Record<string, number[]> }]} Entry */

/** @param {string} dir @param {string | null} url */
function setMirrorUrl(dir, url) {
  const file = path.join(dir, 'cell.mods.yaml');
  const conf = existsSync(file) ? (parse(readFileSync(file, 'utf8')) ?? {}) : {};
  conf.mirror = url;
  writeFileSync(`${file}.tmp`, stringify(conf));
  renameSync(`${file}.tmp`, file);
}

export class Replica {
  /**
   * @param {{ dir: string, conf: Record<string, any>, storage: SimStorage, state: { active: boolean, storm: import('./storm-pool.js').StormPool }, signal: AbortSignal,
   *   migrate: () => Promise<{ storage: number, releases: string[], model: Record<string, number[]> } | null>,
   *   track: (work: Promise<unknown>) => void, nexsLock: import('./nexs-lock.js').NexsLock, applyMs: number }} options
   *   conf: the cell's (conf.js readCellConf); migrate: runs the pending migrations of an active cell, resolves what
   *   they did (null: nothing); applyMs: a mirror's time per entry it applies (--mirror-apply-ms)
   */
  constructor({ dir, conf, storage, state, signal, migrate, track, nexsLock, applyMs }) {
    this.dir = dir;
    this.storage = storage;
    this.state = state;
    this.signal = signal;
    this.migrate = migrate;
    this.track = track;
    this.nexsLock = nexsLock;
    this.applyMs = applyMs;
    this.leaderUrl = conf.mirror ?? null;
    /** @type {string | null} the AHA dir and the leader alias this cell claims when active */
    this.ahaDir = conf['sim:aha'] ?? null;
    /** @type {string | null} */
    this.ahaLeader = conf['aha:leader'] ?? null;
    this.handingOff = false;
    /** @type {string | null} */
    this.ownUrl = null;
    this.ca = readFileSync(path.join(dir, 'sslcert.pem'));
    this.agent = new https.Agent({ keepAlive: true, ca: this.ca });
    this.plainAgent = new http.Agent({ keepAlive: true });
    /** Synapse's nexsroot.ready: a leader is; a mirror once it has caught up with its leader, until it loses the link
     * (not when it merely falls behind again). */
    this.ready = !this.isMirror;
    /** @type {Promise<void> | null} */
    this.following = null;
    /** Ends the follow loop's pause at once (a promotion must not wait out a poll interval). */
    this.wake = () => undefined;
    /** Fault late-write-on-stop: serves no nexus entries to mirrors; `onWrite` hears the next acknowledged write. */
    this.cutOff = false;
    /** @type {(offs: number) => void} */
    this.onWrite = () => undefined;
    /** @type {(() => void)[]} mirrors' requests waiting for the next entry */
    this.waiting = [];
    this.replay();
  }

  get isMirror() {
    return this.leaderUrl !== null;
  }

  /** This cell's URL, set once it listens; an active cell then claims its leader alias. */
  get myUrl() {
    return this.ownUrl;
  }

  set myUrl(url) {
    this.ownUrl = url;
    if (this.state.active) this.claimLeaderAlias();
  }

  /** Registers this cell's URL under its `aha:leader` name (written to a temp file, renamed). */
  claimLeaderAlias() {
    if (!this.ahaDir || !this.ahaLeader || !this.ownUrl) return;
    const file = path.join(this.ahaDir, this.ahaLeader);
    writeFileSync(`${file}.${process.pid}.tmp`, this.ownUrl);
    renameSync(`${file}.${process.pid}.tmp`, file);
    log.info(`AHA: registered ${this.ownUrl} as ${this.ahaLeader}`, 'cell.py:_setAhaActive');
  }

  /** An `aha://<name>/` URL → the URL its name is registered with now; any other URL as it is. @param {string} url */
  resolve(url) {
    if (!url.startsWith('aha://')) return url;
    const alias = new URL(url).hostname;
    const file = path.join(this.ahaDir ?? '', alias);
    if (!this.ahaDir || !existsSync(file)) throw new Error(`AHA: no service registered as ${alias}`);
    return readFileSync(file, 'utf8').trim();
  }

  /** Applies entries recorded but not applied (a stop between the two). */
  replay() {
    const applied = this.storage.getVers('sim:nexus:applied');
    for (const [offs, entry] of this.storage.nexusRange(applied, Number.MAX_SAFE_INTEGER)) this.apply(offs, /** @type {Entry} */ (entry));
  }

  /** @param {number} offs @param {Entry} entry */
  apply(offs, entry) {
    const [kind, args] = entry;
    const iden = this.storage.layerIdens()[0];
    if (kind === 'sim:node:add') this.storage.addNamedNode(iden, args.name);
    if (kind === 'sim:migrated') {
      const keys = this.storage.nodeKeys();
      for (const release of args.releases) this.storage.markMigrated(keys, release);
      this.storage.cell.transactionSync(() => {
        this.storage.setVers(STORAGE_VERS, Math.max(this.storage.getVers(STORAGE_VERS), args.storage));
        for (const [layer, model] of Object.entries(args.model)) this.storage.setLayerModel(layer, model);
      });
    }
    this.storage.setVers('sim:nexus:applied', offs + 1);
  }

  /** A leader's change: recorded in the nexus, then applied (the nexslock held). @param {Entry} entry @returns {number} its offset */
  record(entry) {
    const offs = this.storage.nexusIndex();
    this.storage.putNexus(offs, entry);
    this.apply(offs, entry);
    for (const wake of this.waiting.splice(0)) wake();
    return offs;
  }

  /**
   * Entries from `offs` on; when there are none yet, waits up to `waitMs` for the next one, as a real leader streams
   * each new entry to its mirrors as it is recorded (telepath getNexusChanges with wait=True), not when they next ask.
   * @param {number} offs @param {number} max @param {number} waitMs
   */
  async entriesFrom(offs, max, waitMs) {
    if (waitMs > 0 && offs >= this.storage.nexusIndex() && !this.signal.aborted) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve(undefined);
        });
        this.signal.addEventListener('abort', resolve, { once: true });
      });
    }
    return { indx: this.storage.nexusIndex(), items: this.storage.nexusRange(offs, max) };
  }

  /** record, once the nexslock is free. @param {Entry} entry @returns {Promise<number>} */
  push(entry) {
    return this.nexsLock.run(() => this.record(entry));
  }

  /**
   * Stops serving the nexus to mirrors (a cut between them); resolves the offset of the next client write
   * acknowledged from then on, or null after `ms`. @param {number} ms @returns {Promise<number | null>}
   */
  cutOffMirrors(ms) {
    this.cutOff = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), ms);
      this.onWrite = (offs) => {
        clearTimeout(timer);
        resolve(offs);
      };
    });
  }

  /** Follows the leader until promoted or stopped: pulls entries from our index on, applies them at their offsets. */
  follow() {
    const url = /** @type {string} */ (this.leaderUrl);
    const shown = sanitizeUrl(url);
    const following = () => this.leaderUrl === url && !this.signal.aborted;
    log.info(`mirror: following ${shown}`, 'nexus.py:runMirrorLoop');
    this.following = (async () => {
      let failing = false;
      let denied = 0;
      while (following()) {
        try {
          const { result } = await this.request(this.resolve(url), 'GET', `/api/v1/sim/nexus?offs=${this.storage.nexusIndex()}&max=${BATCH}&wait=${STREAM_WAIT_MS}`);
          if (failing) log.warning(`mirror: connected to ${shown} again`, 'nexus.py:runMirrorLoop');
          failing = false;
          denied = 0;
          for (const [offs, entry] of result.items) {
            if (this.applyMs > 0) await this.pause(this.applyMs);
            if (!following()) break;
            await this.nexsLock.run(() => {
              this.storage.putNexus(offs, entry);
              this.apply(offs, entry);
            });
          }
          if (result.items.length < BATCH && this.storage.nexusIndex() >= result.indx) this.ready = true;
        } catch (error) {
          this.ready = false;
          const { code, message } = /** @type {Error & { code?: string }} */ (error);
          // A wrong password is not a network blip: like a real mirror's telepath client, it says so at every retry.
          if (code === 'NotAuthenticated') log.error(`mirror: authentication failed at ${shown}: ${message}; retrying (attempt ${++denied})`, 'nexus.py:runMirrorLoop');
          else if (!failing) log.warning(`mirror: cannot reach ${shown}: ${message}`, 'nexus.py:runMirrorLoop');
          failing = true;
          await this.pause(5 * POLL_MS);
        }
      }
    })();
    this.track(this.following);
  }

  /** Sleeps `ms`, less when stopping or woken. @param {number} ms */
  async pause(ms) {
    const woken = new AbortController();
    this.wake = () => woken.abort();
    await sleep(ms, undefined, { signal: AbortSignal.any([this.signal, woken.signal]) }).catch(() => undefined);
  }

  /**
   * @param {string} base  https://127.0.0.1:PORT/, or tcp://USER:PASS@HOST:PORT/ (the leader's telepath listener)
   * @param {'GET' | 'POST'} method @param {string} route @param {unknown} [body]
   * @returns {Promise<any>} the parsed body of a 200; rejects otherwise with the cell's message (and its code)
   */
  request(base, method, route, body) {
    const parsed = new URL(base);
    const tcp = parsed.protocol === 'tcp:';
    /** @type {Record<string, string>} */
    const headers = { 'content-type': 'application/json' };
    if (parsed.username) headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64');
    const target = new URL(route, tcp ? `http://${parsed.host}/` : `${parsed.protocol}//${parsed.host}/`);
    return new Promise((resolve, reject) => {
      const req = (tcp ? http : https).request(target, { method, agent: tcp ? this.plainAgent : this.agent, signal: this.signal, timeout: HANDOFF_TIMEOUT_MS + 5000, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new Error(`${method} ${route}: HTTP ${res.statusCode}, not JSON`));
          }
          if (res.statusCode === 200 && json.status === 'ok') resolve(json);
          else reject(Object.assign(new Error(`${json.code ?? `HTTP ${res.statusCode}`}: ${json.mesg ?? text.slice(0, 200)}`), { code: json.code }));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Becomes the leader: stop following, clear mirror:, active, then the pending migrations (recorded in the nexus). */
  async takeOver() {
    const was = this.leaderUrl;
    this.leaderUrl = null;
    this.wake();
    await this.following;
    setMirrorUrl(this.dir, null);
    this.state.active = true;
    this.ready = true;
    this.claimLeaderAlias();
    log.warning(`PROMOTION: Finished leadership promotion (was following ${sanitizeUrl(String(was))}).`, 'cell.py:promote');
    this.track(
      this.migrate().then(async (done) => {
        if (done && !this.signal.aborted) await this.push(['sim:migrated', done]);
      }),
    );
  }

  /** @param {{ graceful?: boolean, waitOffs?: number }} body */
  async promote({ graceful = false, waitOffs }) {
    if (!this.isMirror) throw Object.assign(new Error('promote() called on non-mirror'), { code: 'BadConfValu' });
    log.warning(`PROMOTION: Performing leadership promotion graceful=${graceful}.`, 'cell.py:promote');
    if (graceful) {
      await this.request(this.resolve(/** @type {string} */ (this.leaderUrl)), 'POST', '/api/v1/sim/handoff', { url: this.myUrl });
      log.warning(`PROMOTION: Completed leadership handoff to ${this.myUrl}`, 'cell.py:promote');
      return;
    }
    if (waitOffs !== undefined) {
      const deadline = Date.now() + HANDOFF_TIMEOUT_MS;
      this.wake();
      while (this.storage.nexusIndex() < waitOffs) {
        if (Date.now() > deadline) throw Object.assign(new Error(`Remote mirror did not catch up in time: ${this.storage.nexusIndex()}/${waitOffs}.`), { code: 'NotReady' });
        await sleep(10);
      }
    }
    await this.takeOver();
  }

  /** The leader's half of a graceful promotion. @param {{ url: string }} body */
  async handoff({ url }) {
    if (!this.state.active || this.isMirror) throw Object.assign(new Error('HANDOFF: not the current leader and cannot handoff leadership'), { code: 'BadState' });
    log.warning(`HANDOFF: Performing leadership handoff to ${url}.`, 'cell.py:handoff');
    this.handingOff = true;
    try {
      const indx = await this.nexsLock.run(() => this.storage.nexusIndex()); // after the writes already let in
      await this.request(url, 'POST', '/api/v1/sim/promote', { graceful: false, waitOffs: indx });
      this.state.active = false;
      setMirrorUrl(this.dir, url);
      this.leaderUrl = url;
      this.follow();
      log.warning(`HANDOFF: Done performing the leadership handoff with ${url}.`, 'cell.py:handoff');
    } finally {
      this.handingOff = false;
    }
  }

  /**
   * The replication routes; null for any other path.
   * @param {string} method @param {URL} url @param {() => Promise<any>} body
   * @returns {Promise<[number, object]> | null}
   */
  route(method, url, body) {
    const ok = (/** @type {unknown} */ result) => /** @type {[number, object]} */ ([200, { status: 'ok', result }]);
    const err = (/** @type {number} */ status, /** @type {string} */ code, /** @type {string} */ mesg) => /** @type {[number, object]} */ ([status, { status: 'err', code, mesg }]);
    const failed = (/** @type {any} */ e) => err(e.code === 'BadConfValu' || e.code === 'BadState' ? 400 : 500, e.code ?? 'SynErr', e.message);
    const route = url.pathname;
    if (method === 'GET' && route === '/api/v1/sim/nexus/indx') return Promise.resolve(ok({ indx: this.storage.nexusIndex() }));
    if (method === 'GET' && route === '/api/v1/sim/nexus') {
      if (this.cutOff) return Promise.resolve(err(503, 'LinkShutDown', 'cut off from its mirrors (fault late-write-on-stop)'));
      const offs = Number(url.searchParams.get('offs') ?? 0);
      const max = Math.min(BATCH, Number(url.searchParams.get('max') ?? BATCH));
      return this.entriesFrom(offs, max, Math.min(STREAM_WAIT_MS, Number(url.searchParams.get('wait') ?? 0))).then(ok);
    }
    if (method === 'POST' && route === '/api/v1/sim/nodes') {
      return body().then(async (b) => {
        if (typeof b?.name !== 'string' || b.name === '') return err(400, 'BadArg', 'expected {"name": "…"}');
        await this.state.storm.ready(); // a client write is a Storm query
        const offs = await this.nexsLock.run(() => (this.state.active && !this.handingOff ? this.record(['sim:node:add', { name: b.name }]) : null));
        if (offs === null) return err(503, 'NotLeader', this.handingOff ? 'handing off leadership' : `passive mirror of ${sanitizeUrl(String(this.leaderUrl))}`);
        this.onWrite(offs);
        return ok({ offs });
      });
    }
    if (method === 'POST' && route === '/api/v1/sim/promote') return body().then((b) => this.promote(b ?? {}).then(() => ok({ promoted: true }), failed));
    if (method === 'POST' && route === '/api/v1/sim/handoff') return body().then((b) => this.handoff(b).then(() => ok({ handedOff: true }), failed));
    return null;
  }
}
