import { open } from 'node:fs/promises';
import path from 'node:path';
import xxhash from 'xxhash-wasm';
import { BINARY, openSubDb, withReadOnlyEnv } from './open.js';
import { dbName, dbNameBytes, type DbWalk, type EnvWalk } from './dbinfo.js';

type Hasher = ReturnType<Awaited<ReturnType<typeof xxhash>>['create64']>;
let api: ReturnType<typeof xxhash> | undefined;
const newHasher = async (): Promise<Hasher> => (await (api ??= xxhash())).create64(0n);
const hex = (value: bigint) => value.toString(16).padStart(16, '0');

/** XXH64 fed through a 1 MiB staging buffer: one wasm call per MiB instead of four per entry. */
class EntryHasher {
  private readonly buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  constructor(private readonly hasher: Hasher) {}

  private room(bytes: number): void {
    if (this.used + bytes > this.buf.length) this.flush();
  }

  private flush(): void {
    if (this.used) this.hasher.update(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  u32(value: number): void {
    this.room(4);
    this.used = this.buf.writeUInt32LE(value, this.used);
  }

  u64(value: bigint): void {
    this.room(8);
    this.used = this.buf.writeBigUInt64LE(value, this.used);
  }

  bytes(data: Uint8Array): void {
    if (data.length > this.buf.length / 2) {
      this.flush();
      this.hasher.update(data);
      return;
    }
    this.room(data.length);
    this.buf.set(data, this.used);
    this.used += data.length;
  }

  /** One entry, exactly as native/synup-copy.c feeds it. */
  entry(key: Uint8Array, value: Uint8Array): void {
    this.u32(key.length);
    this.bytes(key);
    this.u32(value.length);
    this.bytes(value);
  }

  digest(): string {
    this.flush();
    return hex(this.hasher.digest());
  }
}

/** An MDB_db record (48 bytes): the value of a sub-db's key in the main db. */
function parseDbRecord(record: Buffer) {
  return {
    flags: record.readUInt16LE(4),
    depth: record.readUInt16LE(6),
    branchPages: Number(record.readBigUInt64LE(8)),
    leafPages: Number(record.readBigUInt64LE(16)),
    overflowPages: Number(record.readBigUInt64LE(24)),
    entries: Number(record.readBigUInt64LE(32)),
  };
}

function isSubDb(env: Parameters<typeof openSubDb>[0], name: string, value: Buffer): boolean {
  if (value.length !== 48 || name.startsWith('hex:')) return false;
  try {
    return openSubDb(env, name) !== undefined;
  } catch {
    return false; // MDB_INCOMPATIBLE: a plain key of the main db
  }
}

/**
 * The TypeScript walk, producing the same digests as the native helper (see native/synup-copy.c). Used when the
 * helper is not built. Free pages are estimated from the db records (LMDB's free list is not reachable from lmdb-js).
 */
export async function walkEnvJs(dir: string, options: { digest?: boolean; fileHash?: boolean } = {}): Promise<EnvWalk> {
  const walk = await withReadOnlyEnv(dir, async (env) => {
    const stats = env.getStats() as {
      pageSize: number;
      mapSize: number;
      lastPageNumber: number;
      lastTxnId: number;
      root: { treeDepth: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number; entryCount: number };
    };
    const root = env.openDB<Buffer, Buffer>({ name: null as unknown as string, ...BINARY }); // the main (unnamed) db
    const mainEntries = [...root.getRange({})].map(({ key, value }) => ({ key, value, name: dbName(key) }));
    const plain = new EntryHasher(await newHasher());
    let plainCount = 0;
    const dbs: DbWalk[] = [];
    for (const { key, value, name } of mainEntries) {
      if (!isSubDb(env, name, value)) {
        plain.entry(key, value);
        plainCount++;
        continue;
      }
      const record = parseDbRecord(value);
      const db: DbWalk = { name, ...record, recordEntries: record.entries };
      if (options.digest) {
        const hasher = new EntryHasher(await newHasher());
        let entries = 0;
        for (const entry of openSubDb(env, name, (record.flags & 0x04) !== 0)!.getRange({})) {
          hasher.entry(entry.key, entry.value);
          entries++;
        }
        db.entries = entries;
        db.digest = hasher.digest();
      }
      dbs.push(db);
    }
    if (plainCount > 0) {
      dbs.unshift({ name: '', flags: 0, depth: 0, branchPages: 0, leafPages: 0, overflowPages: 0, entries: plainCount, recordEntries: plainCount, ...(options.digest ? { digest: plain.digest() } : {}) });
    }
    const used = 2 + stats.root.treeBranchPageCount + stats.root.treeLeafPageCount + stats.root.overflowPages + dbs.reduce((sum, db) => sum + db.branchPages + db.leafPages + db.overflowPages, 0);
    const result: EnvWalk = {
      dir,
      pageSize: stats.pageSize,
      mapSize: stats.mapSize,
      lastPage: stats.lastPageNumber,
      txnId: stats.lastTxnId,
      freePages: Math.max(0, stats.lastPageNumber + 1 - used),
      freePagesExact: false,
      main: { depth: stats.root.treeDepth, branchPages: stats.root.treeBranchPageCount, leafPages: stats.root.treeLeafPageCount, overflowPages: stats.root.overflowPages, entries: stats.root.entryCount },
      dbs,
    };
    if (options.digest) result.digest = await envDigest(dbs);
    return result;
  });
  if (options.fileHash) Object.assign(walk, await hashFile(path.join(dir, 'data.mdb')));
  return walk;
}

/** XXH64 over each sub-db's (name, flags, entries, digest), in main-db order. */
async function envDigest(dbs: DbWalk[]): Promise<string> {
  const hasher = new EntryHasher(await newHasher());
  for (const db of dbs) {
    const name = dbNameBytes(db.name);
    hasher.u32(name.length);
    hasher.bytes(name);
    hasher.u32(db.flags);
    hasher.u64(BigInt(db.entries));
    hasher.u64(BigInt(`0x${db.digest ?? '0'}`));
  }
  return hasher.digest();
}

/** XXH64 of a file's bytes (what the native helper computes while writing a copy). */
export async function hashFile(file: string): Promise<{ fileHash: string; fileBytes: number }> {
  const hasher = await newHasher();
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let total = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      total += bytesRead;
    }
    return { fileHash: hex(hasher.digest()), fileBytes: total };
  } finally {
    await handle.close();
  }
}
