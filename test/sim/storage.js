// The sim's storage: real LMDB envs in Synapse's layout, db names, key encoding (UTF-8) and values (msgpack):
//   slabs/cell.lmdb            dbs cell:info (cell:version, synapse:version, nexus:version), cell:vers (storage
//                              versions), cortex (layer:info:<iden> → layer info with model:version)
//   layers/<iden>/layer_v2.lmdb  dbs bybuidv3 (nodes by buid), byform and byprop (DUPSORT indexes)
//   slabs/nexus.lmdb           db nexs:indx (version → 2, nexs:indx → the index at open; signed 64-bit big-endian)
//   slabs/nexuslog/seqn0000000000000000.lmdb  db nexuslog (the nexus log: 8-byte big-endian offset → msgpack
//                              entry), db info (firstindx) — Synapse 2.x's MultiSlabSeqn (lib/nexus.py), never rotated
// Written by lmdb-js with synup's data-v1 binding — Synapse's (py-lmdb) format.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
// synup's data-v1 binding first: it points lmdb-js's loader at it (built dist/; see src/lmdb/binding.ts).
import '../../dist/lmdb/binding.js';
import { open } from 'lmdb';
import { pack, unpack } from 'msgpackr';
import { fromTuple } from './versions.js';

/** @typedef {import('./versions.js').VersionTuple} VersionTuple */
/** @typedef {import('lmdb').RootDatabase<Buffer, Buffer>} Env */
/** @typedef {import('lmdb').Database<Buffer, Buffer>} Db */
/** @typedef {{ env: Env, nodes: Db, byform: Db, byprop: Db, formCounts: Db }} Layer */

const BINARY = /** @type {const} */ ({ encoding: 'binary', keyEncoding: 'binary' });
const MDB_MAGIC = 0xbeefc0de;
const utf8 = (/** @type {string} */ text) => Buffer.from(text, 'utf8');
const LAYER_INFO = 'layer:info:';
/** 8 bytes big-endian, as Synapse's int64en/signedint64en encode offsets and counts (both ≥ 0 here). @param {number} n */
const int64 = (n) => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(n));
  return bytes;
};

/** The nexus version a first boot records (Synapse: NEXUS_VERSION in synapse/lib/cell.py). */
export const NEXUS_VERSION = [2, 198];
/** Nodes rewritten per committed transaction by a storage migration. */
export const MIGRATION_BATCH = 500;

/**
 * Refuses what lmdb-js must not open (it would crash on an unknown format) or must not have written: anything but
 * an LMDB data format v1 file. Reads the first meta page only. A missing file is fine (a new env).
 * @param {string} file  a data.mdb
 */
export function assertDataV1(file) {
  if (!existsSync(file)) return;
  const head = Buffer.alloc(24);
  const fd = openSync(file, 'r');
  const read = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  if (read < head.length || head.readUInt32LE(16) !== MDB_MAGIC) throw new Error(`${file} is not an LMDB file (no 0xBEEFC0DE meta page)`);
  const version = head.readUInt32LE(20);
  if (version !== 1) {
    throw new Error(`${file} has LMDB data format v${version}, not v1 (Synapse's); if the sim wrote it, the installed lmdb-js was not built with data v1: reinstall with \`npm ci\``);
  }
}

/** A msgpack value under a UTF-8 key, as Synapse's SafeKeyVal stores it. @param {Db} db @param {string} key @returns {unknown} */
function getPacked(db, key) {
  const raw = db.getBinary(utf8(key));
  return raw === undefined ? undefined : unpack(raw);
}

/**
 * A buid as Synapse makes one: sha256 of the msgpacked ndef.
 * @param {number} i
 */
const buidOf = (i) => createHash('sha256').update(pack(['sim:node', i])).digest();

export class SimStorage {
  /**
   * @param {string} dir  the cell's storage dir
   * @param {{ readOnly?: boolean }} [options]
   */
  constructor(dir, { readOnly = false } = {}) {
    this.dir = dir;
    this.readOnly = readOnly;
    /** @type {Map<string, Layer>} */
    this.layers = new Map();
    /** @type {Map<string, Env>} every env opened, by its absolute dir */
    this.envDirs = new Map();
    this.cell = this.openEnv(path.join(dir, 'slabs', 'cell.lmdb'));
    this.info = this.cell.openDB({ name: 'cell:info', ...BINARY });
    this.vers = this.cell.openDB({ name: 'cell:vers', ...BINARY });
    this.cortex = this.cell.openDB({ name: 'cortex', ...BINARY });
    /** The nexus log: every change a leader makes, by offset (8-byte big-endian), which its mirrors replay. */
    this.nexusLog = this.openEnv(path.join(dir, 'slabs', 'nexuslog', 'seqn0000000000000000.lmdb'));
    this.nexus = this.nexusLog.openDB({ name: 'nexuslog', ...BINARY });
    this.nexusSlab = this.openEnv(path.join(dir, 'slabs', 'nexus.lmdb'));
    if (!readOnly) {
      // As NexsRoot.__anit__ at boot: the layout version, and the hot count set to the log's index (written only when
      // they change: a boot that changes nothing leaves the files as they were).
      /** @param {Db} db @param {string} key @param {number} value */
      const put = (db, key, value) => {
        if (!db.getBinary(utf8(key))?.equals(int64(value))) db.putSync(utf8(key), int64(value));
      };
      const counts = this.nexusSlab.openDB({ name: 'nexs:indx', ...BINARY });
      put(this.nexusLog.openDB({ name: 'info', ...BINARY }), 'firstindx', 0);
      put(counts, 'version', 2);
      put(counts, 'nexs:indx', this.nexusIndex());
    }
  }

  /** The offset the next nexus entry takes (Synapse's getNexsIndx). @returns {number} */
  nexusIndex() {
    for (const key of this.nexus.getKeys({ reverse: true, limit: 1 })) return Number(key.readBigUInt64BE(0)) + 1;
    return 0;
  }

  /** Records a change at `offs` (a leader: its next index; a mirror: the leader's offset). @param {number} offs @param {unknown} entry */
  putNexus(offs, entry) {
    this.nexus.putSync(int64(offs), pack(entry));
  }

  /** Up to `max` entries from `offs` on, ascending. @param {number} offs @param {number} max @returns {[number, unknown][]} */
  nexusRange(offs, max) {
    return [...this.nexus.getRange({ start: int64(offs), limit: max })].map(({ key, value }) => [Number(key.readBigUInt64BE(0)), unpack(value)]);
  }

  /**
   * A node a client wrote (`sim:node` named `name`), with its indexes; idempotent (a replayed entry changes nothing).
   * @param {string} iden  @param {string} name
   */
  addNamedNode(iden, name) {
    const { env, nodes, byform, byprop } = this.layer(iden);
    const buid = createHash('sha256').update(pack(['sim:node', name])).digest();
    env.transactionSync(() => {
      if (nodes.getBinary(buid) !== undefined) return;
      nodes.putSync(buid, pack({ ndef: ['sim:node', name], props: { name }, migrated: [] }));
      byform.putSync(utf8('sim:node'), buid);
      this.bumpFormCount(iden, 'sim:node', 1);
      byprop.putSync(utf8(`sim:node:name=${name}`), buid);
    });
  }

  /** Adds `delta` to a layer's count:forms entry of `form` (inside the caller's transaction). @param {string} iden @param {string} form @param {number} delta */
  bumpFormCount(iden, form, delta) {
    const { formCounts } = this.layer(iden);
    const old = formCounts.getBinary(utf8(form));
    const value = Buffer.alloc(8);
    value.writeBigInt64BE(BigInt((old ? Number(old.readBigInt64BE(0)) : 0) + delta));
    formCounts.putSync(utf8(form), value);
  }

  /** Nodes per form of every layer (their count:forms), summed. @returns {Record<string, number>} */
  formCounts() {
    /** @type {Record<string, number>} */
    const counts = {};
    for (const iden of this.layerIdens()) {
      for (const { key, value } of this.layer(iden).formCounts.getRange({})) counts[key.toString()] = (counts[key.toString()] ?? 0) + Number(value.readBigInt64BE(0));
    }
    return counts;
  }

  /** @param {string} envDir @returns {Env} */
  openEnv(envDir) {
    const file = path.join(envDir, 'data.mdb');
    assertDataV1(file);
    if (!this.readOnly) mkdirSync(envDir, { recursive: true });
    const env = /** @type {Env} */ (open({ path: envDir, noSubdir: false, readOnly: this.readOnly, maxDbs: 256, mapSize: 2 ** 30, ...BINARY }));
    assertDataV1(file);
    this.envDirs.set(path.resolve(envDir), env);
    return env;
  }

  /** @param {string} key */
  getInfo(key) {
    return getPacked(this.info, key);
  }

  /** @param {Record<string, unknown>} entries */
  setInfo(entries) {
    this.cell.transactionSync(() => {
      for (const [key, value] of Object.entries(entries)) this.info.putSync(utf8(key), pack(value));
    });
  }

  /** A storage version in cell:vers (0 when unset). @param {string} name @returns {number} */
  getVers(name) {
    return /** @type {number | undefined} */ (getPacked(this.vers, name)) ?? 0;
  }

  /** @param {string} name @param {number} value */
  setVers(name, value) {
    this.vers.putSync(utf8(name), pack(value));
  }

  /** @returns {string[]} */
  layerIdens() {
    return [...this.cortex.getKeys({ start: utf8(LAYER_INFO), end: utf8('layer:info;') })].map((k) => k.toString('utf8').slice(LAYER_INFO.length));
  }

  /** @param {string} iden @returns {VersionTuple} */
  layerModel(iden) {
    const info = /** @type {{ 'model:version'?: VersionTuple } | undefined} */ (getPacked(this.cortex, LAYER_INFO + iden));
    return info?.['model:version'] ?? [-1, -1, -1];
  }

  /** @param {string} iden @param {VersionTuple} modelVersion */
  setLayerModel(iden, modelVersion) {
    const info = /** @type {Record<string, unknown> | undefined} */ (getPacked(this.cortex, LAYER_INFO + iden)) ?? { iden };
    this.cortex.putSync(utf8(LAYER_INFO + iden), pack({ ...info, 'model:version': modelVersion }));
  }

  /** @param {string} iden @returns {Layer} */
  layer(iden) {
    let layer = this.layers.get(iden);
    if (!layer) {
      const env = this.openEnv(path.join(this.dir, 'layers', iden, 'layer_v2.lmdb'));
      layer = {
        env,
        nodes: env.openDB({ name: 'bybuidv3', ...BINARY }),
        byform: env.openDB({ name: 'byform', dupSort: true, ...BINARY }),
        byprop: env.openDB({ name: 'byprop', dupSort: true, ...BINARY }),
        // Synapse's HotCount of nodes per form: UTF-8 form name → signed 64-bit big-endian count.
        formCounts: env.openDB({ name: 'count:forms', ...BINARY }),
      };
      this.layers.set(iden, layer);
    }
    return layer;
  }

  /**
   * Deterministic nodes (same count → same data): small values, and every 97th larger than a page (overflow
   * pages); every 7th deleted again so the env has free pages, as a long-lived cell does.
   * @param {string} iden
   * @param {number} count
   */
  seedLayer(iden, count) {
    const { env, nodes, byform, byprop } = this.layer(iden);
    const form = utf8('sim:node');
    const name = (/** @type {number} */ i) => utf8(`sim:node:name=${i % 50}`);
    for (let start = 0; start < count; start += 2000) {
      env.transactionSync(() => {
        for (let i = start; i < Math.min(count, start + 2000); i++) {
          const buid = buidOf(i);
          const blob = Buffer.alloc(i % 97 === 0 ? 6000 : 40 + (i % 200), i % 251);
          nodes.putSync(buid, pack({ ndef: ['sim:node', i], props: { name: `node-${i}`, blob }, migrated: [] }));
          byform.putSync(form, buid);
          byprop.putSync(name(i), buid);
        }
      });
    }
    env.transactionSync(() => {
      for (let i = 0; i < count; i += 7) {
        const buid = buidOf(i);
        nodes.removeSync(buid);
        byform.removeSync(form, buid);
        byprop.removeSync(name(i), buid);
      }
      this.bumpFormCount(iden, 'sim:node', count - Math.ceil(count / 7));
    });
  }

  /** Every node's layer and buid, in key order. @returns {{ iden: string, buid: Buffer }[]} */
  nodeKeys() {
    return this.layerIdens().flatMap((iden) => [...this.layer(iden).nodes.getKeys()].map((buid) => ({ iden, buid })));
  }

  /**
   * Rewrites nodes in one transaction per layer: each records that `version`'s migration rewrote it (idempotent).
   * @param {{ iden: string, buid: Buffer }[]} keys
   * @param {string} version
   */
  markMigrated(keys, version) {
    for (const iden of new Set(keys.map((k) => k.iden))) {
      const { env, nodes } = this.layer(iden);
      env.transactionSync(() => {
        for (const { buid } of keys.filter((k) => k.iden === iden)) {
          const raw = nodes.getBinary(buid);
          if (raw === undefined) continue;
          const node = unpack(raw);
          if (!node.migrated.includes(version)) nodes.putSync(buid, pack({ ...node, migrated: [...node.migrated, version] }));
        }
      });
    }
  }

  /** Names of the nodes clients wrote (not the seeded ones), sorted. @returns {string[]} */
  writtenNames() {
    const names = [];
    for (const iden of this.layerIdens()) for (const { value } of this.layer(iden).nodes.getRange({})) {
      const name = unpack(value).ndef[1];
      if (typeof name === 'string') names.push(name);
    }
    return names.sort();
  }

  /** What the data says, for tests (`node test/sim/inspect.js <dir>`). */
  describe() {
    const version = (/** @type {string} */ key) => fromTuple(this.getInfo(key));
    return {
      cellVersion: version('cell:version'),
      synapseVersion: version('synapse:version'),
      nexusVersion: version('nexus:version'),
      nexusIndex: this.nexusIndex(),
      vers: Object.fromEntries([...this.vers.getRange({})].map(({ key, value }) => [key.toString('utf8'), unpack(value)])),
      layers: this.layerIdens().map((iden) => {
        /** @type {Record<string, number>} */
        const migrated = {};
        let nodes = 0;
        for (const { value } of this.layer(iden).nodes.getRange({})) {
          nodes++;
          for (const v of unpack(value).migrated) migrated[v] = (migrated[v] ?? 0) + 1;
        }
        return { iden, modelVersion: fromTuple(this.layerModel(iden)), nodes, migrated };
      }),
    };
  }

  /** Every env of the cell, by its dir (every layer opened). @returns {Map<string, Env>} */
  envs() {
    for (const iden of this.layerIdens()) this.layer(iden);
    return new Map(this.envDirs);
  }

  async close() {
    for (const { env } of this.layers.values()) await env.close();
    await this.nexusLog.close();
    await this.nexusSlab.close();
    await this.cell.close();
  }
}
