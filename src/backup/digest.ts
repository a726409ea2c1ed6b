import os from 'node:os';
import { SynupError } from '../errors.js';
import { flagNames, type EnvWalk } from '../lmdb/dbinfo.js';
import { discoverEnvs } from '../lmdb/discover.js';
import { walkEnvs, type WalkEngine } from '../lmdb/walk.js';

/** One sub-db's logical content: same for a source env and any compacted copy of it. */
export interface SubDbDigest {
  name: string;
  /** LMDB flag bits (DUPSORT = 4 …), part of the env digest. */
  flagBits: number;
  flags: string[];
  entries: number;
  digest: string;
}

export interface EnvDigest {
  /** Relative to the cell (or backup) dir. */
  path: string;
  entries: number;
  digest: string;
  dbs: SubDbDigest[];
}

export interface CellDigest {
  dir: string;
  engine: WalkEngine | 'manifest';
  envs: EnvDigest[];
}

export type ProblemCode =
  | 'missing-env'
  | 'extra-env'
  | 'missing-db'
  | 'extra-db'
  | 'db-flags'
  | 'entry-count'
  | 'digest-mismatch'
  | 'env-digest';

export interface Problem {
  code: ProblemCode;
  message: string;
  env?: string;
  db?: string;
}

export function envDigestOf(rel: string, walk: EnvWalk): EnvDigest {
  return {
    path: rel,
    entries: walk.dbs.reduce((sum, db) => sum + db.entries, 0),
    digest: walk.digest ?? '',
    dbs: walk.dbs.map((db) => ({ name: db.name, flagBits: db.flags, flags: flagNames(db.flags), entries: db.entries, digest: db.digest ?? '' })),
  };
}

/**
 * Entries and digest of every sub-db of every env of a cell (every key and value in order, every DUPSORT duplicate),
 * read-only. Throws when an env cannot be read: a digest of part of a cell would prove nothing.
 */
export async function digestCell(dir: string, options: { skipDirs?: string[]; jobs?: number; engine?: WalkEngine } = {}): Promise<CellDigest> {
  const { envs } = await discoverEnvs(dir, { skipDirs: options.skipDirs });
  const { engine, outcomes } = await walkEnvs(envs.map((e) => e.dir), { digest: true, jobs: options.jobs ?? os.availableParallelism(), engine: options.engine });
  return {
    dir,
    engine,
    envs: outcomes.map((outcome, i) => {
      if (!outcome.ok) throw new SynupError('failed', `cannot digest ${envs[i]!.rel} in ${dir}: ${outcome.error}`);
      return envDigestOf(envs[i]!.rel, outcome.walk);
    }),
  };
}

const label = (name: string) => (name === '' ? '(plain entries of the main db)' : `sub-db "${name}"`);

/** Compares one env's sub-dbs; every difference named by env and sub-db. */
export function compareEnvDigests(expected: EnvDigest, actual: EnvDigest): Problem[] {
  const env = expected.path;
  const problems: Problem[] = [];
  const actualDbs = new Map(actual.dbs.map((db) => [db.name, db]));
  for (const want of expected.dbs) {
    const got = actualDbs.get(want.name);
    const where = { env, db: want.name };
    if (!got) {
      problems.push({ code: 'missing-db', ...where, message: `${env}: ${label(want.name)} is missing (expected ${want.entries} entries)` });
      continue;
    }
    if (got.flagBits !== want.flagBits) {
      problems.push({ code: 'db-flags', ...where, message: `${env}: ${label(want.name)} flags are ${got.flags.join('|') || 'none'}, expected ${want.flags.join('|') || 'none'}` });
    }
    if (got.entries !== want.entries) {
      problems.push({ code: 'entry-count', ...where, message: `${env}: ${label(want.name)} has ${got.entries} entries, expected ${want.entries}` });
    } else if (got.digest !== want.digest) {
      problems.push({ code: 'digest-mismatch', ...where, message: `${env}: ${label(want.name)} content differs with the same ${want.entries} entries (digest ${got.digest}, expected ${want.digest})` });
    }
  }
  const wanted = new Set(expected.dbs.map((db) => db.name));
  for (const extra of actual.dbs.filter((db) => !wanted.has(db.name))) {
    problems.push({ code: 'extra-db', env, db: extra.name, message: `${env}: unexpected ${label(extra.name)} (${extra.entries} entries)` });
  }
  if (problems.length === 0 && expected.digest !== actual.digest) {
    problems.push({ code: 'env-digest', env, message: `${env}: env digest ${actual.digest}, expected ${expected.digest}` });
  }
  return problems;
}

/** Every difference between two cells' digests: missing/extra envs, then per env missing/extra sub-dbs, flags, counts, content. */
export function compareDigests(expected: CellDigest, actual: CellDigest): Problem[] {
  const problems: Problem[] = [];
  const actualEnvs = new Map(actual.envs.map((env) => [env.path, env]));
  for (const want of expected.envs) {
    const got = actualEnvs.get(want.path);
    if (!got) problems.push({ code: 'missing-env', env: want.path, message: `env ${want.path} is missing from ${actual.dir}` });
    else problems.push(...compareEnvDigests(want, got));
  }
  const wanted = new Set(expected.envs.map((env) => env.path));
  for (const extra of actual.envs.filter((env) => !wanted.has(env.path))) {
    problems.push({ code: 'extra-env', env: extra.path, message: `env ${extra.path} in ${actual.dir} is not in ${expected.dir}` });
  }
  return problems;
}
