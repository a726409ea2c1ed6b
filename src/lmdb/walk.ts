import path from 'node:path';
import { errorMessage } from '../errors.js';
import { readMeta } from './format.js';
import { dbName, type EnvWalk } from './dbinfo.js';
import { nativeHelperPath, runHelper, type HelperEventOf } from './native.js';

export type WalkOutcome = { dir: string; ok: true; walk: EnvWalk } | { dir: string; ok: false; error: string };

export type WalkEngine = 'native' | 'lmdb-js';

export interface WalkOptions {
  /** Walk every entry and compute digests (else only stats). */
  digest?: boolean;
  /** Also hash data.mdb's bytes. */
  fileHash?: boolean;
  jobs?: number;
  /** Default: native when built. */
  engine?: WalkEngine;
}

export function defaultWalkEngine(): WalkEngine {
  return nativeHelperPath() ? 'native' : 'lmdb-js';
}

/**
 * Reads envs (stats, and with `digest` every entry of every sub-db including DUPSORT duplicates). Each env's meta
 * page is checked first; an env that cannot be read is an outcome with an error, never a crash of synup: the native
 * helper runs in a child process (a SIGSEGV on corrupt pages is retried env by env to name the culprit).
 */
export async function walkEnvs(dirs: string[], options: WalkOptions = {}): Promise<{ engine: WalkEngine; outcomes: WalkOutcome[] }> {
  const engine = options.engine ?? defaultWalkEngine();
  const outcomes = new Map<string, WalkOutcome>();
  const readable: string[] = [];
  for (const dir of dirs) {
    try {
      await readMeta(path.join(dir, 'data.mdb'));
      readable.push(dir);
    } catch (error) {
      outcomes.set(dir, { dir, ok: false, error: errorMessage(error) });
    }
  }
  if (engine === 'native') {
    for (const outcome of await walkNative(readable, options)) outcomes.set(outcome.dir, outcome);
  } else {
    const { walkEnvJs } = await import('./walk-js.js'); // loads lmdb-js only when it is the engine
    for (const dir of readable) {
      try {
        outcomes.set(dir, { dir, ok: true, walk: await walkEnvJs(dir, options) });
      } catch (error) {
        outcomes.set(dir, { dir, ok: false, error: errorMessage(error) });
      }
    }
  }
  return { engine, outcomes: dirs.map((dir) => outcomes.get(dir)!) };
}

async function walkNative(dirs: string[], options: WalkOptions, retrying = false): Promise<WalkOutcome[]> {
  if (dirs.length === 0) return [];
  const flags = [...(options.digest ? ['-d'] : []), ...(options.fileHash ? ['-f'] : [])];
  const run = await runHelper(['walk', '-j', String(options.jobs ?? 1), ...flags, '--', ...dirs]);
  const walks = new Map<number, EnvWalk>();
  const hashes = new Map<number, HelperEventOf<'filehash'>>();
  const errors = new Map<number, string>();
  for (const event of run.events) {
    if (event.event === 'env') walks.set(event.env, envWalkFromEvent(dirs[event.env]!, event));
    else if (event.event === 'filehash') hashes.set(event.env, event);
    else if (event.event === 'error' && event.env !== undefined) errors.set(event.env, event.message);
  }
  if (run.signal && !retrying && dirs.length > 1) {
    // One env crashed LMDB (corrupt pages): walk the unfinished ones alone to name it.
    const done = dirs.map((dir, i) => (walks.has(i) && (!options.fileHash || hashes.has(i)) ? null : dir)).filter((d): d is string => d !== null);
    const redo = new Map((await Promise.all(done.map((dir) => walkNative([dir], options, true)))).flat().map((o) => [o.dir, o]));
    return dirs.map((dir, i) => redo.get(dir) ?? outcomeOf(dir, walks.get(i), hashes.get(i), errors.get(i), undefined));
  }
  return dirs.map((dir, i) => outcomeOf(dir, walks.get(i), hashes.get(i), errors.get(i), run.signal ?? (run.exitCode === 2 ? run.stderr : undefined)));
}

function outcomeOf(dir: string, walk: EnvWalk | undefined, hash: HelperEventOf<'filehash'> | undefined, error: string | undefined, crash: string | undefined): WalkOutcome {
  if (error) return { dir, ok: false, error };
  if (!walk) return { dir, ok: false, error: crash ? `LMDB crashed reading it (${crash}): its pages are corrupt` : 'the helper did not report it' };
  if (hash) {
    walk.fileHash = hash.fileHash;
    walk.fileBytes = hash.bytes;
  }
  return { dir, ok: true, walk };
}

/** Parses the helper's "env" event (a walk, or with `copy -d` the digest of the pinned source snapshot). */
export function envWalkFromEvent(dir: string, e: HelperEventOf<'env'>): EnvWalk {
  const { main } = e;
  return {
    dir,
    pageSize: e.pageSize,
    mapSize: e.mapSize,
    lastPage: e.lastPage,
    txnId: e.txnid,
    freePages: e.freePages,
    freePagesExact: true,
    main: { depth: main.depth, branchPages: main.branch, leafPages: main.leaf, overflowPages: main.overflow, entries: main.entries },
    dbs: e.dbs.map((db) => ({
      name: dbName(Buffer.from(db.name, 'hex')),
      flags: db.flags,
      depth: db.depth ?? 0,
      branchPages: db.branch ?? 0,
      leafPages: db.leaf ?? 0,
      overflowPages: db.overflow ?? 0,
      entries: db.entries,
      recordEntries: db.recordEntries ?? db.entries,
      ...(db.digest ? { digest: db.digest } : {}),
    })),
    ...(e.digest ? { digest: e.digest } : {}),
  };
}
