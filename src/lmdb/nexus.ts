import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { SynupError, type ExitCodeName } from '../errors.js';
import { openSubDb, withReadOnlyEnv } from './open.js';

/**
 * A stopped cell's nexus index (Synapse's getNexsIndx: the offset its next change takes), read from its files the way
 * NexsRoot.__anit__ (synapse/lib/nexus.py, 2.180.0 to 2.250.0) computes it at boot: the larger of
 * - the log's index: the last key + 1 (8-byte big-endian offsets) of the `nexuslog` db in the newest slab
 *   `slabs/nexuslog/seqn<first index, 16 hex>.lmdb` (MultiSlabSeqn; an empty newest slab: its first index), or, in
 *   the v1 layout (`version` ≤ 1 in `nexs:indx`), of the `nexuslog` db of slabs/nexus.lmdb itself;
 * - the hot count `nexs:indx` (db `nexs:indx` of slabs/nexus.lmdb, signed 64-bit big-endian): the index of a cell
 *   without `nexslog:en`, and what a boot sets to the larger of the two.
 */
export interface NexusIndexReading {
  index: number;
  layout: 'multislab' | 'v1';
  logIndex: number;
  hotIndex: number;
}

const SEQN_SLAB = /^seqn([0-9a-f]{16})\.lmdb$/;

const int64 = (bytes: Buffer, signed: boolean) => Number(signed ? bytes.readBigInt64BE(0) : bytes.readBigUInt64BE(0));

/** The index after the last entry of a seqn db (`nexuslog`), or null when it is empty or missing. */
function seqnNextIndex(env: Parameters<typeof openSubDb>[0]): number | null {
  const db = openSubDb(env, 'nexuslog');
  if (!db) return null;
  for (const key of db.getKeys({ reverse: true, limit: 1 })) return int64(key, false) + 1;
  return null;
}

async function multislabIndex(logDir: string): Promise<number> {
  if (!existsSync(logDir)) return 0;
  const slabs = readdirSync(logDir).filter((name) => SEQN_SLAB.test(name) && statSync(path.join(logDir, name)).isDirectory()).sort();
  const newest = slabs.at(-1);
  if (!newest) return 0;
  const firstIndex = parseInt(SEQN_SLAB.exec(newest)![1]!, 16);
  return (await withReadOnlyEnv(path.join(logDir, newest), (env) => seqnNextIndex(env))) ?? firstIndex;
}

/** In this process with lmdb-js (which keeps every env it opened mapped until exit): see readNexusIndex. */
export async function readNexusIndexInProcess(cellDir: string): Promise<NexusIndexReading> {
  const slab = path.join(cellDir, 'slabs', 'nexus.lmdb');
  if (!existsSync(path.join(slab, 'data.mdb'))) {
    throw new SynupError('failed', `${cellDir} has no slabs/nexus.lmdb/data.mdb: no Synapse nexus to read the index from`, { hint: 'is cell.dir the cell\'s storage dir, and did it ever boot?' });
  }
  const hot = await withReadOnlyEnv(slab, (env) => {
    const counts = openSubDb(env, 'nexs:indx');
    const get = (key: string) => {
      const value = counts?.getBinary(Buffer.from(key)) as Buffer | undefined;
      return value === undefined ? 0 : int64(value, true);
    };
    return { version: get('version'), index: get('nexs:indx'), v1Log: get('version') <= 1 ? seqnNextIndex(env) : null };
  });
  const layout = hot.version <= 1 ? 'v1' : 'multislab';
  const logIndex = layout === 'v1' ? (hot.v1Log ?? 0) : await multislabIndex(path.join(cellDir, 'slabs', 'nexuslog'));
  return { index: Math.max(logIndex, hot.index), layout, logIndex, hotIndex: hot.index };
}

/** The env (and its first index) of the seqn slab holding `offset`, MultiSlabSeqn's way: the newest starting at or before it. */
function slabOf(logDir: string, offset: number): string | null {
  if (!existsSync(logDir)) return null;
  const slabs = readdirSync(logDir).filter((name) => SEQN_SLAB.test(name)).map((name) => ({ name, first: parseInt(SEQN_SLAB.exec(name)![1]!, 16) })).filter((s) => s.first <= offset).sort((a, b) => b.first - a.first);
  return slabs[0] ? path.join(logDir, slabs[0].name) : null;
}

/**
 * The raw bytes (msgpack, base64) of the nexus entry at `offset` as a cell's files hold it, or null when its log does
 * not keep it (`nexslog:en: false`, rotated away, not written yet). Read-only: fine on a running cell (LMDB readers
 * do not block its writer); the committed entries only.
 */
export async function readNexusEntryInProcess(cellDir: string, offset: number): Promise<string | null> {
  const key = Buffer.alloc(8);
  key.writeBigUInt64BE(BigInt(offset));
  const slab = path.join(cellDir, 'slabs', 'nexus.lmdb');
  const v1 = existsSync(path.join(slab, 'data.mdb'))
    ? await withReadOnlyEnv(slab, (env) => {
        const counts = openSubDb(env, 'nexs:indx');
        const version = counts?.getBinary(Buffer.from('version')) as Buffer | undefined;
        if (version !== undefined && int64(version, true) > 1) return { multislab: true, entry: null };
        return { multislab: false, entry: (openSubDb(env, 'nexuslog')?.getBinary(key) as Buffer | undefined) ?? null };
      })
    : { multislab: true, entry: null };
  if (!v1.multislab) return v1.entry ? v1.entry.toString('base64') : null;
  const env = slabOf(path.join(cellDir, 'slabs', 'nexuslog'), offset);
  if (!env) return null;
  const entry = await withReadOnlyEnv(env, (e) => (openSubDb(e, 'nexuslog')?.getBinary(key) as Buffer | undefined) ?? null);
  return entry ? entry.toString('base64') : null;
}

/** The child-process entry beside this module (dist/lmdb/, also when synup runs from src/ under a test runner). */
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'lmdb', 'nexus-read.js');

export interface PreparedNexusRead {
  /** Reads the index now (the cell must be stopped by then): a few ms, the child already loaded. */
  read(): Promise<NexusIndexReading>;
  /** Ends the child when the read is not wanted any more. */
  cancel(): void;
}

/**
 * The nexus index of a STOPPED cell from its files (a running one has entries not yet committed), in a child
 * process: lmdb-js keeps an env mapped and its lock file open until the process exits, and synup goes on to restart,
 * defragment or back up this very cell. The child starts now (Node and lmdb-js load in 0.1–0.3 s) and reads when
 * told: start it before the cell stops, read after. It ends by itself when synup does (its stdin closes).
 */
export function prepareNexusRead(cellDir: string, options: { timeoutMs?: number } = {}): PreparedNexusRead {
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Its own process group: a terminal's Ctrl-C (which synup traps, to finish what it started) does not end it.
  const child = execa(process.execPath, [CHILD, cellDir], { reject: false, stdin: 'pipe', timeout: timeoutMs, detached: true });
  child.stdin!.on('error', () => undefined); // a child that already ended: its result says why
  return {
    read: async () => {
      child.stdin!.end('read\n');
      const result = await child;
      const last = result.stdout.trim().split('\n').at(-1) ?? '';
      let parsed: { reading?: NexusIndexReading; error?: { code: ExitCodeName; message: string; hint?: string } } | undefined;
      try {
        parsed = JSON.parse(last);
      } catch {
        // reported below
      }
      if (result.exitCode === 0 && parsed?.reading) return parsed.reading;
      if (parsed?.error) throw new SynupError(parsed.error.code, parsed.error.message, { hint: parsed.error.hint });
      const why = result.timedOut ? `no answer within ${timeoutMs} ms` : `exit ${result.exitCode ?? result.signal}: ${(result.stderr.trim().split('\n').at(-1) ?? '').slice(0, 300)}`;
      throw new SynupError('failed', `cannot read the nexus index of ${cellDir} (${why})`);
    },
    cancel: () => void child.kill(),
  };
}

/** prepareNexusRead, read at once. */
export function readNexusIndex(cellDir: string, options: { timeoutMs?: number } = {}): Promise<NexusIndexReading> {
  return prepareNexusRead(cellDir, options).read();
}

/**
 * A cell's nexus index and the entry at `offset` (null: not kept) from its files, in a child process (see
 * prepareNexusRead). On a running cell the index is what it has committed, which may trail its live one.
 */
export async function readNexusHistory(cellDir: string, offset: number | null, options: { timeoutMs?: number } = {}): Promise<{ reading: NexusIndexReading; entry: string | null }> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const result = await execa(process.execPath, [CHILD, cellDir, '--now', ...(offset === null ? [] : ['--entry', String(offset)])], { reject: false, stdin: 'ignore', timeout: timeoutMs });
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: { reading?: NexusIndexReading; entry?: string | null; error?: { code: ExitCodeName; message: string; hint?: string } } | undefined;
  try {
    parsed = JSON.parse(last);
  } catch {
    // reported below
  }
  if (result.exitCode === 0 && parsed?.reading) return { reading: parsed.reading, entry: parsed.entry ?? null };
  if (parsed?.error) throw new SynupError(parsed.error.code, parsed.error.message, { hint: parsed.error.hint });
  const why = result.timedOut ? `no answer within ${timeoutMs} ms` : `exit ${result.exitCode ?? result.signal}: ${(result.stderr.trim().split('\n').at(-1) ?? '').slice(0, 300)}`;
  throw new SynupError('failed', `cannot read the nexus log of ${cellDir} (${why})`);
}
