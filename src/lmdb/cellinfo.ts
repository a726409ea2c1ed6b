import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { unpack } from 'msgpackr';
import { versionFromTuple } from '../changelog/version.js';
import { SynupError } from '../errors.js';
import { readMeta } from './format.js';
import { nativeHelperPath, runHelper } from './native.js';

export interface CellInfo {
  /** Contents of cell.guid, or null when there is none. */
  guid: string | null;
  cellVersion: string | null;
  synapseVersion: string | null;
  nexusVersion: string | null;
}

/** A Synapse version as stored: a msgpack tuple [2, 181, 0]. */
const versionOf = (value: Buffer | undefined): string | null => (value ? versionFromTuple(unpack(value)) : null);

export async function readCellGuid(cellDir: string): Promise<string | null> {
  try {
    return (await readFile(path.join(cellDir, 'cell.guid'), 'utf8')).trim() || null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SynupError('failed', `cannot read ${path.join(cellDir, 'cell.guid')}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

const VERSION_KEYS = ['cell:version', 'synapse:version', 'nexus:version'] as const;
type VersionValues = Partial<Record<(typeof VERSION_KEYS)[number], Buffer>>;

/** Through the native helper (a child process): no env stays open in synup's process (lmdb-js keeps them open). */
async function readVersionsNative(slab: string): Promise<VersionValues> {
  const run = await runHelper(['get', slab, 'cell:info', ...VERSION_KEYS.map((k) => Buffer.from(k).toString('hex'))]);
  const error = run.events.find((e) => e.event === 'error');
  if (run.exitCode !== 0 || error) throw new SynupError('failed', `cannot read ${slab}: ${error && 'message' in error ? error.message : run.signal || run.stderr.trim()}`);
  const values: VersionValues = {};
  for (const e of run.events) {
    if (e.event === 'value' && typeof e.value === 'string') values[Buffer.from(e.key, 'hex').toString() as keyof VersionValues] = Buffer.from(e.value, 'hex');
  }
  return values;
}

async function readVersionsJs(slab: string): Promise<VersionValues> {
  const { openSubDb, withReadOnlyEnv } = await import('./open.js');
  return withReadOnlyEnv(slab, (env) => {
    const info = openSubDb(env, 'cell:info');
    return Object.fromEntries(VERSION_KEYS.map((key) => [key, info?.getBinary(Buffer.from(key)) as Buffer | undefined]));
  });
}

/**
 * What a stopped (or running) cell says about itself: cell.guid, and the versions in slabs/cell.lmdb, db
 * `cell:info` (keys cell:version, synapse:version, nexus:version; msgpack tuples). Read-only, after the meta check.
 */
export async function readCellInfo(cellDir: string): Promise<CellInfo> {
  const guid = await readCellGuid(cellDir);
  const slab = path.join(cellDir, 'slabs', 'cell.lmdb');
  if (!existsSync(path.join(slab, 'data.mdb'))) return { guid, cellVersion: null, synapseVersion: null, nexusVersion: null };
  await readMeta(path.join(slab, 'data.mdb'));
  const values = nativeHelperPath() ? await readVersionsNative(slab) : await readVersionsJs(slab);
  const version = (key: (typeof VERSION_KEYS)[number]) => {
    try {
      return versionOf(values[key]);
    } catch (error) {
      throw new SynupError('failed', `${slab}: cell:info ${key} is not a msgpack version (${(error as Error).message})`);
    }
  };
  return { guid, cellVersion: version('cell:version'), synapseVersion: version('synapse:version'), nexusVersion: version('nexus:version') };
}
