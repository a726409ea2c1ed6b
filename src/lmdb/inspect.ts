import os from 'node:os';
import { flagNames } from './dbinfo.js';
import { discoverEnvs } from './discover.js';
import { walkEnvs, type WalkEngine } from './walk.js';

export interface InspectedDb {
  name: string;
  flags: string[];
  depth: number;
  entries: number;
  pages: number;
}

export interface InspectedEnv {
  path: string;
  fileBytes: number;
  /** Bytes on disk (data.mdb may be sparse). */
  allocatedBytes: number;
  pageSize?: number;
  mapSize?: number;
  /** Pages in use by the file (last page + 1). */
  pages?: number;
  freePages?: number;
  freePagesExact?: boolean;
  /** Free pages / pages: what a compacting copy reclaims. */
  fragmentation?: number;
  /** Size of a compacted copy. */
  compactedBytes?: number;
  entries?: number;
  dbs?: InspectedDb[];
  /** Why the env could not be read (unknown format, truncated, …). */
  error?: string;
}

export interface InspectReport {
  dir: string;
  engine: WalkEngine;
  envs: InspectedEnv[];
  /** `*.lmdb` without data.mdb. */
  orphans: string[];
  skipped: string[];
  totals: { envs: number; fileBytes: number; allocatedBytes: number; freeBytes: number; compactedBytes: number; entries: number };
}

/** Sizes, free pages and sub-dbs of every env of a cell, read-only (meta check first; nothing is written). */
export async function inspectCell(dir: string, options: { skipDirs?: string[]; jobs?: number; engine?: WalkEngine } = {}): Promise<InspectReport> {
  const { envs, orphans, skipped } = await discoverEnvs(dir, { skipDirs: options.skipDirs });
  const { engine, outcomes } = await walkEnvs(envs.map((e) => e.dir), { jobs: options.jobs ?? os.availableParallelism(), engine: options.engine });
  const inspected: InspectedEnv[] = envs.map((env, i) => {
    const base = { path: env.rel, fileBytes: env.dataBytes, allocatedBytes: env.allocatedBytes };
    const outcome = outcomes[i]!;
    if (!outcome.ok) return { ...base, error: outcome.error };
    const w = outcome.walk;
    const pages = w.lastPage + 1;
    return {
      ...base,
      pageSize: w.pageSize,
      mapSize: w.mapSize,
      pages,
      freePages: w.freePages,
      freePagesExact: w.freePagesExact,
      fragmentation: pages > 0 ? w.freePages / pages : 0,
      compactedBytes: (pages - w.freePages) * w.pageSize,
      entries: w.dbs.reduce((sum, db) => sum + db.entries, 0),
      dbs: w.dbs.map((db) => ({ name: db.name, flags: flagNames(db.flags), depth: db.depth, entries: db.entries, pages: db.branchPages + db.leafPages + db.overflowPages })),
    };
  });
  const sum = (pick: (e: InspectedEnv) => number) => inspected.reduce((total, e) => total + pick(e), 0);
  return {
    dir,
    engine,
    envs: inspected,
    orphans,
    skipped,
    totals: {
      envs: inspected.length,
      fileBytes: sum((e) => e.fileBytes),
      allocatedBytes: sum((e) => e.allocatedBytes),
      freeBytes: sum((e) => (e.freePages ?? 0) * (e.pageSize ?? 0)),
      compactedBytes: sum((e) => e.compactedBytes ?? e.fileBytes),
      entries: sum((e) => e.entries ?? 0),
    },
  };
}
