import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { openSubDb, withReadOnlyEnv } from './open.js';

/**
 * Node counts per form, offline, from a stopped cell's (or a backup's) layer files: every
 * `layers/<iden>/layer_v2.lmdb` keeps them in db `count:forms` (Synapse's HotCount: UTF-8 form name → signed 64-bit
 * big-endian count, written on each slab commit). Read-only, after the meta-page check (open.ts); nothing is written
 * (a lock.mdb LMDB creates for the reader is removed again). Counts of all layers are summed: the default view of a
 * Cortex with one layer, an upper bound where forked views' layers hold edits of the same nodes.
 */
export interface LayerFormCounts {
  layers: string[];
  counts: Record<string, number>;
}

export async function readLayerFormCounts(cellDir: string): Promise<LayerFormCounts> {
  const layersDir = path.join(cellDir, 'layers');
  if (!existsSync(layersDir)) throw new SynupError('usage', `${cellDir} has no layers/ dir: not a Cortex's storage (or a backup of one)`, { hint: 'check cell.dir, or the backup dir given' });
  const layers = readdirSync(layersDir).filter((iden) => existsSync(path.join(layersDir, iden, 'layer_v2.lmdb', 'data.mdb'))).sort();
  const counts: Record<string, number> = {};
  for (const iden of layers) {
    await withReadOnlyEnv(path.join(layersDir, iden, 'layer_v2.lmdb'), (env) => {
      const db = openSubDb(env, 'count:forms');
      if (!db) return;
      for (const { key, value } of db.getRange({})) {
        const bytes = value as Buffer;
        if (bytes.length !== 8) continue;
        const form = (key as Buffer).toString('utf8');
        counts[form] = (counts[form] ?? 0) + Number(bytes.readBigInt64BE(0));
      }
    });
  }
  return { layers, counts };
}
