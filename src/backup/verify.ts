import os from 'node:os';
import { lstat, readlink } from 'node:fs/promises';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { readCellGuid } from '../lmdb/cellinfo.js';
import { scanCell } from '../lmdb/discover.js';
import { assertNotHeld } from '../safety/held.js';
import { defaultWalkEngine, walkEnvs, type WalkEngine, type WalkOutcome } from '../lmdb/walk.js';
import { whyNotWritable } from '../fsutil.js';
import { SYNUP_VERSION } from '../version.js';
import { compareDigests, compareEnvDigests, digestCell, envDigestOf, type CellDigest } from './digest.js';
import { sha256File } from './files.js';
import { readManifest, RESERVED_FILES, writeVerification, type Manifest, type ManifestEnv } from './manifest.js';

export interface VerifyProblem {
  code: string;
  message: string;
  env?: string;
  db?: string;
  file?: string;
}

export interface VerifyChecked {
  envs: number;
  subDbs: number;
  entries: number;
  files: number;
  /** Bytes read: every data.mdb and regular file. */
  bytes: number;
}

export interface VerifyReport {
  ok: boolean;
  backupDir: string;
  problems: VerifyProblem[];
  engine: WalkEngine | null;
  checked: VerifyChecked;
  verifiedAt: string;
  durationMs: number;
  /** Whether the result was written to the backup dir (only for a dir with a manifest). */
  recorded: boolean;
  /** Why it could not be written (a read-only backup): the result still stands, it is only not kept. */
  notRecorded?: string;
}

export interface VerifyOptions {
  /** Also compare with this stopped cell dir (entries and digests of every sub-db). */
  against?: string;
  /** Require the backup to be of this cell (its cell.guid). */
  cellDir?: string;
  jobs?: number;
  engine?: WalkEngine;
  /** Record the result in the backup dir (default true). */
  record?: boolean;
  /** A walk (digests and file hashes) of exactly these envs just made by the caller: reused instead of a second read. */
  walked?: { engine: WalkEngine; outcomes: WalkOutcome[] };
}

/** The manifest's digests as a CellDigest, to compare with a walk. */
export function manifestDigest(dir: string, manifest: Manifest): CellDigest {
  return { dir, engine: 'manifest', envs: manifest.envs.map(({ path: p, entries, digest, dbs }) => ({ path: p, entries, digest, dbs })) };
}

/**
 * lmdb-js runs in this process: a damaged data.mdb could crash it. So with lmdb-js only files whose bytes are
 * exactly as written are opened (`unopened` holds the others with their hash); the native helper (a child process)
 * opens everything and names the damaged sub-db.
 */
async function walkBackupEnvs(dirs: string[], expected: ManifestEnv[], jobs: number, engine?: WalkEngine): Promise<{ engine: WalkEngine; outcomes: WalkOutcome[]; unopened: Map<string, string> }> {
  if ((engine ?? defaultWalkEngine()) === 'native') return { ...(await walkEnvs(dirs, { digest: true, fileHash: true, jobs, engine: 'native' })), unopened: new Map() };
  const { hashFile } = await import('../lmdb/walk-js.js');
  const hashes = await Promise.all(dirs.map((dir) => hashFile(path.join(dir, 'data.mdb')).then((h) => h.fileHash, () => 'unreadable')));
  const safe = dirs.filter((_, i) => hashes[i] === expected[i]!.fileHash);
  const { outcomes } = await walkEnvs(safe, { digest: true, fileHash: true, engine: 'lmdb-js' });
  const unopened = new Map(dirs.flatMap((dir, i) => (safe.includes(dir) ? [] : [[dir, hashes[i]!] as const])));
  return { engine: 'lmdb-js', outcomes: outcomes, unopened };
}

/** Checks a copy of a backup (the backup itself, or a restored dir) against its manifest, naming every difference. */
export async function verifyTree(dir: string, manifest: Manifest, options: Pick<VerifyOptions, 'jobs' | 'engine' | 'walked'> = {}): Promise<{ problems: VerifyProblem[]; checked: VerifyChecked; engine: WalkEngine }> {
  const problems: VerifyProblem[] = [];
  const checked: VerifyChecked = { envs: 0, subDbs: 0, entries: 0, files: 0, bytes: 0 };
  const tree = await scanCell(dir, { skipDirs: [] });

  const found = new Map(tree.envs.map((env) => [env.rel, env]));
  const present = manifest.envs.filter((env) => found.has(env.path));
  for (const env of manifest.envs.filter((e) => !found.has(e.path))) problems.push({ code: 'missing-env', env: env.path, message: `env ${env.path} is missing (${env.entries} entries expected)` });
  const expectedEnvs = new Set(manifest.envs.map((env) => env.path));
  for (const env of tree.envs.filter((e) => !expectedEnvs.has(e.rel))) problems.push({ code: 'extra-env', env: env.rel, message: `env ${env.rel} is not in the manifest` });
  for (const rel of tree.orphans) problems.push({ code: 'extra-env', env: rel, message: `${rel} ends in .lmdb but holds no data.mdb` });

  for (const env of present) {
    const size = found.get(env.path)!.dataBytes;
    if (size !== env.bytes) problems.push({ code: 'size-mismatch', env: env.path, message: `${env.path}/data.mdb is ${size} bytes, the manifest says ${env.bytes}${size < env.bytes ? ' (truncated)' : ''}` });
  }
  const dirs = present.map((env) => found.get(env.path)!.dir);
  const reuse = options.walked && dirs.every((dir) => options.walked!.outcomes.some((o) => o.dir === dir)) ? options.walked : null;
  const { engine, outcomes, unopened } = reuse ? { ...reuse, unopened: new Map<string, string>() } : await walkBackupEnvs(dirs, present, options.jobs ?? os.availableParallelism(), options.engine);
  const changedBytes = (env: ManifestEnv, actual: string | undefined, note = '') =>
    problems.push({ code: 'bytes-changed', env: env.path, message: `${env.path}/data.mdb bytes differ from the backup as written (xxh64 ${actual}, expected ${env.fileHash}): flipped or overwritten bytes${note}` });
  present.forEach((env, i) => {
    if (unopened.has(dirs[i]!)) return changedBytes(env, unopened.get(dirs[i]!), '; not opened with lmdb-js, which could crash on damaged pages (the built-in helper names the sub-db)');
    const outcome = outcomes.find((o) => o.dir === dirs[i])!;
    if (!outcome.ok) {
      problems.push({ code: 'env-unreadable', env: env.path, message: `${env.path}: ${outcome.error}` });
      return;
    }
    checked.envs++;
    checked.bytes += outcome.walk.fileBytes ?? 0;
    checked.subDbs += outcome.walk.dbs.length;
    checked.entries += outcome.walk.dbs.reduce((sum, db) => sum + db.entries, 0);
    if (outcome.walk.fileHash !== env.fileHash) changedBytes(env, outcome.walk.fileHash);
    problems.push(...compareEnvDigests(env, envDigestOf(env.path, outcome.walk)));
  });

  const files = new Map(tree.files.map((f) => [f.rel, f]));
  for (const want of manifest.files) {
    const got = files.get(want.path);
    if (!got) {
      problems.push({ code: 'missing-file', file: want.path, message: `file ${want.path} is missing` });
      continue;
    }
    checked.files++;
    checked.bytes += got.size;
    if (got.size !== want.size) problems.push({ code: 'file-size', file: want.path, message: `file ${want.path} is ${got.size} bytes, the manifest says ${want.size}` });
    else if ((await sha256File(path.join(dir, want.path))) !== want.sha256) problems.push({ code: 'file-changed', file: want.path, message: `file ${want.path} content differs from the backup (sha256)` });
  }
  const wantedFiles = new Set([...manifest.files.map((f) => f.path), ...RESERVED_FILES]);
  for (const extra of tree.files.filter((f) => !wantedFiles.has(f.rel))) problems.push({ code: 'extra-file', file: extra.rel, message: `file ${extra.rel} is not in the manifest` });
  for (const link of manifest.symlinks) {
    const target = await lstat(path.join(dir, link.path)).then((st) => (st.isSymbolicLink() ? readlink(path.join(dir, link.path)) : null), () => null);
    if (target !== link.target) problems.push({ code: 'link-changed', file: link.path, message: `link ${link.path} should point to ${link.target}${target === null ? ' but is missing' : `, points to ${target}`}` });
  }
  return { problems, checked, engine };
}

/** The backup must be of the cell in `cellDir`: same cell.guid in the manifest and in the backup's own cell.guid file. */
async function cellProblems(backupDir: string, manifest: Manifest, cellDir: string): Promise<VerifyProblem[]> {
  const guid = await readCellGuid(cellDir);
  if (!guid) return [{ code: 'foreign-cell', message: `${cellDir} has no cell.guid: cannot prove the backup belongs to it` }];
  const problems: VerifyProblem[] = [];
  if (manifest.cell.guid !== guid) problems.push({ code: 'foreign-cell', message: `the backup is of cell ${manifest.cell.guid ?? '(no cell.guid)'}, not of ${cellDir} (cell.guid ${guid})` });
  const copied = await readCellGuid(backupDir);
  if (copied !== null && copied !== guid && manifest.cell.guid === guid) problems.push({ code: 'foreign-cell', file: 'cell.guid', message: `the backup's cell.guid file says ${copied}, not ${guid}` });
  return problems;
}

async function againstProblems(manifest: Manifest, backupDir: string, against: string, jobs: number, engine?: WalkEngine): Promise<VerifyProblem[]> {
  await assertNotHeld(against, 'verify --against (the comparison needs a stopped cell)');
  const actual = await digestCell(against, { skipDirs: manifest.skipDirs, jobs, engine });
  return compareDigests(manifestDigest(backupDir, manifest), actual).map((p) => ({ ...p, message: `against ${against}: ${p.message}` }));
}

/**
 * Re-opens and walks every env of a backup (every sub-db, every DUPSORT duplicate), re-hashes every file, and
 * compares all of it with the manifest; optionally with a stopped cell (`against`) and a cell's identity (`cellDir`).
 * The backup's own result (not the --cell/--against comparison) is recorded in the backup dir (synup-verified.json).
 */
export async function verifyBackup(backupDir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const dir = path.resolve(backupDir);
  const st = await lstat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new SynupError('usage', `${dir} is not a directory`, { hint: 'pass a backup dir made by `synup backup`' });
  const jobs = options.jobs ?? os.availableParallelism();
  const read = await readManifest(dir);
  const problems: VerifyProblem[] = [];
  let checked: VerifyChecked = { envs: 0, subDbs: 0, entries: 0, files: 0, bytes: 0 };
  let engine: WalkEngine | null = null;
  /** The backup's own state; a mismatch with another cell (--cell, --against) is not a property of the backup. */
  let ownProblems: VerifyProblem[] = [];
  if (!read.ok) {
    problems.push({ code: read.code, message: read.message });
  } else {
    const tree = await verifyTree(dir, read.manifest, { jobs, engine: options.engine, walked: options.walked });
    problems.push(...tree.problems);
    checked = tree.checked;
    engine = tree.engine;
    ownProblems = [...tree.problems];
    if (options.cellDir) problems.push(...(await cellProblems(dir, read.manifest, path.resolve(options.cellDir))));
    if (options.against) problems.push(...(await againstProblems(read.manifest, dir, path.resolve(options.against), jobs, options.engine)));
  }
  const report: VerifyReport = {
    ok: problems.length === 0,
    backupDir: dir,
    problems,
    engine,
    checked,
    verifiedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
    recorded: false,
  };
  // A backup on read-only media keeps no record; the report says so, and the result is not lost.
  const unwritable = read.ok && options.record !== false ? whyNotWritable(dir) : null;
  if (read.ok && options.record !== false && !unwritable) {
    writeVerification(dir, {
      verifiedAt: report.verifiedAt,
      ok: ownProblems.length === 0,
      manifestChecksum: read.manifest.checksum,
      synupVersion: SYNUP_VERSION,
      engine: engine ?? 'none',
      durationMs: report.durationMs,
      problems: ownProblems.map(({ code, message }) => ({ code, message })),
    });
    report.recorded = true;
  }
  if (unwritable) report.notRecorded = unwritable;
  return report;
}
