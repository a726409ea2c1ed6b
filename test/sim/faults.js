// Fault injection: what each mode does (cell.js acts on them), and the page corruption of corrupt-on-exit.
import { closeSync, existsSync, openSync, readdirSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Every fault mode and what it does. */
export const FAULTS = {
  'crash-on-boot': 'exits 1 with a traceback right after taking the cell.guid lock, before any data is opened or written',
  'hang-before-active': 'runs the storage migrations, then never opens the HTTPS listener (keeps running; SIGTERM stops it)',
  'never-active': 'opens the listener but /api/v1/active answers active:false for ever (and no model migration runs)',
  'wrong-version': '/api/v1/core/info and the Storm version call report 2.0.0 whatever the real one is',
  'die-mid-migration': 'exits 1 halfway through the first storage migration, after committing half of its node rewrites (cell:version already bumped, as Synapse bumps it before migrating)',
  'ignore-sigterm': 'logs and ignores SIGTERM (SIGINT and SIGKILL still stop it)',
  'corrupt-on-exit': 'on a graceful stop, after closing the envs, flips the header bytes of an in-use page of a data.mdb (the main-db root of the first layer env)',
  'drop-lock': 'once active, drops its lock on cell.guid but keeps the file open and runs on, as a real Cortex after a live backup (Cell._execBackupTask copies cell.guid in the running process)',
  'late-write-on-stop': 'a leader, on SIGTERM: first stops serving its nexus to its mirrors (as if cut off from them) and takes client writes until one more is acknowledged (at most 3 s), then stops as usual: a write acknowledged after its index was read that no mirror has',
};

/** @type {string[]} */
export const FAULT_MODES = Object.keys(FAULTS);

/** The version wrong-version reports. */
export const WRONG_VERSION = [2, 0, 0];

/** LMDB's "no page" page number. */
const P_INVALID = 0xffffffffffffffffn;

/** @param {number} fd @param {number} position @param {number} length */
function readAt(fd, position, length) {
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, position);
  return buf;
}

/**
 * LMDB 0.9 meta page: 16-byte page header, then magic, version, address, mapsize (24 bytes), the FREE and MAIN
 * MDB_db records (48 bytes each: md_pad (= page size in FREE's), flags, depth, 4 counts, md_root), last_pg, txnid.
 * @param {number} fd
 * @returns {{ pageSize: number, mainRoot: bigint }}
 */
function newestMeta(fd) {
  const DBS = 16 + 24;
  const meta = (/** @type {number} */ base) => {
    const page = readAt(fd, base, DBS + 2 * 48 + 16);
    return { pageSize: page.readUInt32LE(DBS), mainRoot: page.readBigUInt64LE(DBS + 48 + 40), txnid: page.readBigUInt64LE(DBS + 96 + 8) };
  };
  const first = meta(0);
  const second = meta(first.pageSize);
  return second.txnid > first.txnid ? second : first;
}

/**
 * Flips the 16 header bytes of the main-db root page (it holds the named-db records: every reader needs it) of
 * the first layer env, or of slabs/cell.lmdb when there is no layer. Returns what it did, for the log.
 * @param {string} dir  the cell's storage dir
 */
export function corruptAPage(dir) {
  const layers = path.join(dir, 'layers');
  const idens = existsSync(layers) ? readdirSync(layers).sort() : [];
  const files = [...idens.map((iden) => path.join(layers, iden, 'layer_v2.lmdb', 'data.mdb')), path.join(dir, 'slabs', 'cell.lmdb', 'data.mdb')];
  for (const file of files.filter((f) => existsSync(f))) {
    const fd = openSync(file, 'r+');
    try {
      const { pageSize, mainRoot } = newestMeta(fd);
      if (mainRoot === P_INVALID) continue; // an empty main db has no root page
      const position = Number(mainRoot) * pageSize;
      const header = readAt(fd, position, 16).map((b) => b ^ 0xff);
      writeSync(fd, header, 0, header.length, position);
      return `flipped the header of page ${mainRoot} of ${file}`;
    } finally {
      closeSync(fd);
    }
  }
  return 'found no page to corrupt';
}
