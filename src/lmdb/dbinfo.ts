/** What a walk of an LMDB env reports, shared by the native and the TypeScript walkers. */

/** LMDB's persistent db flags (lmdb.h). */
const DB_FLAGS: [number, string][] = [
  [0x02, 'REVERSEKEY'],
  [0x04, 'DUPSORT'],
  [0x08, 'INTEGERKEY'],
  [0x10, 'DUPFIXED'],
  [0x20, 'INTEGERDUP'],
  [0x40, 'REVERSEDUP'],
];

export function flagNames(flags: number): string[] {
  return DB_FLAGS.filter(([bit]) => flags & bit).map(([, name]) => name);
}

/** A sub-db name as text: UTF-8 when it round-trips (Synapse's names do), else `hex:<bytes>`. `""` = plain main-db entries. */
export function dbName(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : `hex:${bytes.toString('hex')}`;
}

export function dbNameBytes(name: string): Buffer {
  return name.startsWith('hex:') ? Buffer.from(name.slice(4), 'hex') : Buffer.from(name, 'utf8');
}

export interface DbWalk {
  name: string;
  flags: number;
  depth: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
  /** Entries walked (with a digest) or as the db record says (without). */
  entries: number;
  /** Entries the db record claims; differs from `entries` only in a damaged env. */
  recordEntries: number;
  digest?: string;
}

export interface EnvWalk {
  dir: string;
  pageSize: number;
  mapSize: number;
  lastPage: number;
  txnId: number;
  /** Pages a compacting copy drops (free list + its own pages); exact from the native helper, estimated by lmdb-js. */
  freePages: number;
  freePagesExact: boolean;
  main: { depth: number; branchPages: number; leafPages: number; overflowPages: number; entries: number };
  dbs: DbWalk[];
  digest?: string;
  /** XXH64 of data.mdb's bytes. */
  fileHash?: string;
  fileBytes?: number;
}
