import { open } from 'node:fs/promises';
import { SynupError } from '../errors.js';

/** LMDB's magic number at the start of the meta record. */
export const MDB_MAGIC = 0xbeefc0de;
/** LMDB 0.9.x (py-lmdb, so Synapse) writes data format 1; LMDB 0.9.90 / mdb.master3 (the lmdb npm prebuilt) writes 2. */
export const SUPPORTED_DATA_VERSION = 1;

export interface MetaInfo {
  magic: number;
  version: number;
  pageSize: number;
  mapSize: number;
  lastPage: number;
  txnId: number;
  /** Entries in the main (unnamed) db = number of named sub-databases for a Synapse slab. */
  mainEntries: number;
  fileSize: number;
}

const PAGE_HEADER = 16; // mp_pgno(8) + mp_pad(2) + mp_flags(2) + mp_lower/upper(4)
const DB_RECORD = 48; // MDB_db

/** Parses one meta page (either of the two at the start of data.mdb). Offsets are for 64-bit LMDB builds. */
function parseMeta(buf: Buffer, base: number): Omit<MetaInfo, 'fileSize' | 'pageSize'> & { pad: number } {
  const m = base + PAGE_HEADER;
  const main = m + 24 + DB_RECORD; // dbs[1] (MAIN_DBI) after magic, version, address, mapsize, dbs[0]
  return {
    magic: buf.readUInt32LE(m),
    version: buf.readUInt32LE(m + 4),
    mapSize: Number(buf.readBigUInt64LE(m + 16)),
    pad: buf.readUInt32LE(m + 24), // dbs[0].md_pad holds the page size
    mainEntries: Number(buf.readBigUInt64LE(main + 32)),
    lastPage: Number(buf.readBigUInt64LE(m + 24 + 2 * DB_RECORD)),
    txnId: Number(buf.readBigUInt64LE(m + 24 + 2 * DB_RECORD + 8)),
  };
}

/**
 * Reads the meta pages of `data.mdb` in plain TypeScript, before any native code opens the file.
 * Throws a clear SynupError (exit 3) on anything lmdb-js could crash on: not LMDB, another data format, truncated.
 */
export async function readMeta(dataFile: string): Promise<MetaInfo> {
  const handle = await open(dataFile, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new SynupError('failed', `cannot open ${dataFile}: ${error.code ?? error.message}`);
  });
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, 2 * 65536));
    await handle.read(head, 0, head.length, 0);
    if (size < 2 * 512 || head.length < PAGE_HEADER + 24 + 2 * DB_RECORD + 16) {
      throw notLmdb(dataFile, `file is ${size} bytes, too small for LMDB's two meta pages (truncated?)`);
    }
    const first = parseMeta(head, 0);
    if (first.magic !== MDB_MAGIC) {
      throw notLmdb(dataFile, `no LMDB magic 0xBEEFC0DE at the first meta page (found 0x${first.magic.toString(16).padStart(8, '0')})`);
    }
    if (first.version !== SUPPORTED_DATA_VERSION) {
      throw new SynupError(
        'refused',
        `${dataFile} is LMDB data format v${first.version}; synup reads format v${SUPPORTED_DATA_VERSION} (what Synapse's py-lmdb writes) and will not open it`,
        { hint: 'format v2 is written by LMDB 0.9.90+/the lmdb npm prebuilt; convert it with that LMDB\'s mdb_dump | mdb_load from 0.9.x, or check the file really belongs to a Synapse cell' },
      );
    }
    const pageSize = first.pad;
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw notLmdb(dataFile, `implausible page size ${pageSize} in the meta page`);
    }
    if (size < 2 * pageSize) throw notLmdb(dataFile, `file is ${size} bytes, smaller than its two ${pageSize}-byte meta pages (truncated)`);
    const second = parseMeta(head, pageSize);
    const newest = second.magic === MDB_MAGIC && second.txnId > first.txnId ? second : first;
    // The size as of after the meta pages were read: a live env (a running mirror replicating writes) grows between a
    // stat and the read, and LMDB writes a commit's pages before the meta page that counts them.
    const { size: sizeAfter } = await handle.stat();
    if ((newest.lastPage + 1) * pageSize > sizeAfter) {
      throw notLmdb(dataFile, `file is ${sizeAfter} bytes but its meta page says it uses ${(newest.lastPage + 1) * pageSize} (truncated)`);
    }
    return {
      magic: newest.magic,
      version: newest.version,
      pageSize,
      mapSize: newest.mapSize,
      lastPage: newest.lastPage,
      txnId: newest.txnId,
      mainEntries: newest.mainEntries,
      fileSize: sizeAfter,
    };
  } finally {
    await handle.close();
  }
}

function notLmdb(file: string, why: string): SynupError {
  return new SynupError('refused', `${file} is not a readable LMDB file: ${why}`, {
    hint: 'restore this env from a verified backup; synup will not let a native library open a damaged file',
  });
}
