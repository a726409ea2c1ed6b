// Storage of the simulated cell: the same LMDB layout, db names, key encoding and msgpack values as Synapse
// (slabs/cell.lmdb `cell:info`, `cell:vers`, `cortex`; layers/<iden>/layer_v2.lmdb with a DUPSORT index).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import { pack, unpack } from 'msgpackr';

export const NEXUS_VERSION = [2, 198];
const enc = (s) => Buffer.from(s, 'utf8');

/** "2.181.0" ↔ [2, 181, 0], as Synapse stores versions (msgpack tuples). */
export const toTuple = (version) => version.split('.').map(Number);
export const fromTuple = (tuple) => (Array.isArray(tuple) ? tuple.join('.') : null);
export function compareVersions(a, b) {
  const x = toTuple(a);
  const y = toTuple(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

function openEnv(dir) {
  mkdirSync(dir, { recursive: true });
  return open({ path: dir, noSubdir: false, maxDbs: 128, mapSize: 1 << 30, encoding: 'binary', keyEncoding: 'binary' });
}

export class SimStorage {
  constructor(dir) {
    this.dir = dir;
    this.cell = openEnv(path.join(dir, 'slabs', 'cell.lmdb'));
    this.info = this.cell.openDB({ name: 'cell:info', encoding: 'binary', keyEncoding: 'binary' });
    this.vers = this.cell.openDB({ name: 'cell:vers', encoding: 'binary', keyEncoding: 'binary' });
    this.cortex = this.cell.openDB({ name: 'cortex', encoding: 'binary', keyEncoding: 'binary' });
    this.layers = new Map();
  }

  getInfo(key) {
    const raw = this.info.get(enc(key));
    return raw === undefined ? undefined : unpack(raw);
  }

  async setInfo(key, value) {
    await this.info.put(enc(key), pack(value));
  }

  layerIdens() {
    return [...this.cortex.getKeys({ start: enc('layer:info:'), end: enc('layer:info;') })].map((k) => k.toString('utf8').slice('layer:info:'.length));
  }

  layer(iden) {
    let layer = this.layers.get(iden);
    if (!layer) {
      const env = openEnv(path.join(this.dir, 'layers', iden, 'layer_v2.lmdb'));
      layer = {
        env,
        nodes: env.openDB({ name: 'nodes', encoding: 'binary', keyEncoding: 'binary' }),
        byprop: env.openDB({ name: 'byprop', encoding: 'binary', keyEncoding: 'binary', dupSort: true }),
      };
      this.layers.set(iden, layer);
    }
    return layer;
  }

  async addLayer(iden, modelVersion) {
    await this.cortex.put(enc(`layer:info:${iden}`), pack({ iden, 'model:version': modelVersion }));
    return this.layer(iden);
  }

  async setLayerModel(iden, modelVersion) {
    const current = unpack(this.cortex.get(enc(`layer:info:${iden}`)));
    await this.cortex.put(enc(`layer:info:${iden}`), pack({ ...current, 'model:version': modelVersion }));
  }

  /** Deterministic nodes; every 7th one deleted again so the env has free pages, as a long-lived cell does. */
  async seed(iden, count) {
    const { env, nodes, byprop } = this.layer(iden);
    const batch = 2000;
    for (let start = 0; start < count; start += batch) {
      await env.transaction(() => {
        for (let i = start; i < Math.min(count, start + batch); i++) {
          const key = createHash('sha256').update(`node:${i}`).digest().subarray(0, 16);
          const size = i % 97 === 0 ? 6000 : 40 + (i % 200); // some values larger than a page (overflow pages)
          const node = { form: 'sim:node', valu: i, props: { name: `node-${i}`, blob: Buffer.alloc(size, i % 251) }, marker: [] };
          nodes.put(key, pack(node));
          byprop.put(enc(`name=${i % 50}`), key);
          byprop.put(enc('form=sim:node'), key);
        }
      });
    }
    await env.transaction(() => {
      for (let i = 0; i < count; i += 7) {
        const key = createHash('sha256').update(`node:${i}`).digest().subarray(0, 16);
        nodes.remove(key);
        byprop.remove(enc(`name=${i % 50}`), key);
        byprop.remove(enc('form=sim:node'), key);
      }
    });
  }

  /** A storage migration: rewrites every node with a marker of the version that migrated it, in committed batches. */
  async migrateNodes(version, { batchSize = 500, pauseMs = 0, stopAfter = Infinity } = {}) {
    let done = 0;
    for (const iden of this.layerIdens()) {
      const { env, nodes } = this.layer(iden);
      const keys = [...nodes.getKeys()];
      for (let i = 0; i < keys.length; i += batchSize) {
        await env.transaction(() => {
          for (const key of keys.slice(i, i + batchSize)) {
            const node = unpack(nodes.get(key));
            node.marker = [...node.marker, version];
            nodes.put(key, pack(node));
          }
        });
        done += Math.min(batchSize, keys.length - i);
        if (done >= stopAfter) return done;
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
    }
    return done;
  }

  countNodes() {
    return this.layerIdens().reduce((n, iden) => n + this.layer(iden).nodes.getCount(), 0);
  }

  async close() {
    for (const { env } of this.layers.values()) await env.close();
    await this.cell.close();
  }
}

export function ensureCellFiles(dir) {
  mkdirSync(dir, { recursive: true });
  if (!existsSync(path.join(dir, 'cell.guid'))) writeFileSync(path.join(dir, 'cell.guid'), randomBytes(16).toString('hex'));
  if (!existsSync(path.join(dir, 'cell.yaml'))) writeFileSync(path.join(dir, 'cell.yaml'), '# simulated Synapse cell (synup test/sim)\nhttps:port: 4443\n');
  return readFileSync(path.join(dir, 'cell.guid'), 'utf8').trim();
}
