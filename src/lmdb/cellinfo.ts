import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { SynupError } from '../errors.js';
import { openSubDb, withReadOnlyEnv } from './open.js';

export interface CellInfo {
  /** Contents of cell.guid, or null when there is none. */
  guid: string | null;
  cellVersion: string | null;
  synapseVersion: string | null;
  nexusVersion: string | null;
}

/** A Synapse version as stored: msgpack tuple [2, 181, 0] → "2.181.0" (a string is kept as is). */
function versionOf(value: Buffer | undefined): string | null {
  if (!value) return null;
  const decoded: unknown = unpack(value);
  if (Array.isArray(decoded) && decoded.every((n) => Number.isInteger(n))) return decoded.join('.');
  return typeof decoded === 'string' ? decoded : null;
}

export async function readCellGuid(cellDir: string): Promise<string | null> {
  try {
    return (await readFile(path.join(cellDir, 'cell.guid'), 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SynupError('failed', `cannot read ${path.join(cellDir, 'cell.guid')}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/**
 * What a stopped (or running) cell says about itself: cell.guid, and the versions in slabs/cell.lmdb, db
 * `cell:info` (keys cell:version, synapse:version, nexus:version; msgpack tuples). Read-only, after the meta check.
 */
export async function readCellInfo(cellDir: string): Promise<CellInfo> {
  const guid = await readCellGuid(cellDir);
  const slab = path.join(cellDir, 'slabs', 'cell.lmdb');
  if (!existsSync(path.join(slab, 'data.mdb'))) return { guid, cellVersion: null, synapseVersion: null, nexusVersion: null };
  return withReadOnlyEnv(slab, (env) => {
    const info = openSubDb(env, 'cell:info');
    const get = (key: string) => {
      try {
        return versionOf(info?.getBinary(Buffer.from(key)) as Buffer | undefined);
      } catch (error) {
        throw new SynupError('failed', `${slab}: cell:info ${key} is not a msgpack version (${(error as Error).message})`);
      }
    };
    return { guid, cellVersion: get('cell:version'), synapseVersion: get('synapse:version'), nexusVersion: get('nexus:version') };
  });
}
