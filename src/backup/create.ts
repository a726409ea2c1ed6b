import os from 'node:os';
import { existsSync } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { SynupError, usageError } from '../errors.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import type { EnvWalk } from '../lmdb/dbinfo.js';
import { DEFAULT_SKIP_DIRS } from '../lmdb/discover.js';
import { readMeta } from '../lmdb/format.js';
import { walkEnvs, type WalkOutcome } from '../lmdb/walk.js';
import { checkWritableDir } from '../fsutil.js';
import { SYNUP_VERSION } from '../version.js';
import { copyCell, type CopyCellResult, type CopyProgress } from './copy.js';
import { envDigestOf } from './digest.js';
import type { Engine } from './engines.js';
import { exists } from './files.js';
import { clearPartial, markPartial } from './partial.js';
import { RESERVED_FILES, sealManifest, writeManifest, type Manifest, type ManifestEnv } from './manifest.js';
import { readBackCopy, type CopyWalk } from './readback.js';
import { verifyBackup, type VerifyReport } from './verify.js';
import { assertBackupDestination } from '../safety/paths.js';
import { Interrupted } from '../interrupt.js';

export interface CreateBackupOptions {
  cellDir: string;
  /** The backup dir; default `<backupsDir>/<name>_<YYYYmmddHHMMSS>` (UTC). */
  dst?: string;
  backupsDir?: string;
  /** Default: the cell dir's name. */
  name?: string;
  mode: 'live' | 'cold';
  engine?: Engine;
  jobs?: number;
  /** Extra dir globs to leave out, on top of Synapse's `**\/tmp` and `**\/backups`. */
  skipDirs?: string[];
  /** Verify right after writing (default true); without it the backup stays unverified. */
  verify?: boolean;
  python?: string;
  now?: Date;
  /** Aborted (SIGINT/SIGTERM): stops at the next safe point before the manifest and removes the partial dir. */
  signal?: AbortSignal;
  onProgress?: (event: CopyProgress | { phase: 'verify'; bytesDone: number; bytesTotal: number; message?: string }) => void;
}

export interface CreatedBackup {
  dir: string;
  manifest: Manifest;
  copy: CopyCellResult;
  /** null with `verify: false`. */
  verification: VerifyReport | null;
}

export function backupStamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** `<name>_<stamp>`, or `<name>_<stamp>-2`, -3 … when a backup was already made in the same second. */
function freeBackupName(backupsDir: string, base: string): string {
  for (let n = 1; ; n++) {
    const candidate = path.join(backupsDir, n === 1 ? base : `${base}-${n}`);
    if (!existsSync(candidate)) return candidate;
  }
}

function normalizeCreateOptions(options: CreateBackupOptions) {
  const cellDir = path.resolve(options.cellDir);
  const now = options.now ?? new Date();
  const name = options.name ?? path.basename(cellDir);
  if (!options.dst && !options.backupsDir) throw usageError('no backup destination: pass one, or set backup.dir in synup.yaml');
  return {
    cellDir,
    dst: path.resolve(options.dst ?? freeBackupName(options.backupsDir!, `${name}_${backupStamp(now)}`)),
    mode: options.mode,
    engine: options.engine ?? 'auto',
    jobs: options.jobs ?? os.availableParallelism(),
    skipDirs: [...DEFAULT_SKIP_DIRS, ...(options.skipDirs ?? [])],
    verify: options.verify ?? true,
    python: options.python ?? 'python3',
    onProgress: options.onProgress ?? (() => undefined),
    signal: options.signal,
  };
}

/**
 * The digests the manifest records. Best: the exact snapshot the builtin engine copied (walked in the same pass).
 * A stopped source is the next best; a live source read later would have moved on, so then the copy's own.
 */
async function manifestDigests(copy: CopyCellResult, mode: 'live' | 'cold', copyWalks: WalkOutcome[], jobs: number): Promise<{ digestOf: Manifest['digestOf']; walks: EnvWalk[] }> {
  if (copy.envs.every((env) => env.snapshot)) return { digestOf: 'snapshot', walks: copy.envs.map((env) => env.snapshot!) };
  const unwrap = (outcomes: WalkOutcome[]) => outcomes.map((outcome, i) => {
    if (!outcome.ok) throw new SynupError('failed', `cannot digest ${copy.envs[i]!.path}: ${outcome.error}`);
    return outcome.walk;
  });
  if (mode === 'live') return { digestOf: 'copy', walks: unwrap(copyWalks) };
  const { outcomes } = await walkEnvs(copy.envs.map((env) => path.join(copy.src, env.path)), { digest: true, jobs });
  return { digestOf: 'source', walks: unwrap(outcomes) };
}

async function manifestEnvs(copy: CopyCellResult, digests: EnvWalk[], copyWalks: WalkOutcome[]): Promise<ManifestEnv[]> {
  return Promise.all(copy.envs.map(async (env, i) => {
    const file = path.join(copy.dst, env.path, 'data.mdb');
    const meta = await readMeta(file);
    const { mode } = await lstat(file);
    const walked = copyWalks[i]!;
    const digest = envDigestOf(env.path, digests[i]!);
    return {
      path: env.path,
      pageSize: meta.pageSize,
      pages: meta.lastPage + 1,
      bytes: env.bytesAfter,
      bytesBefore: env.bytesBefore,
      mode: mode & 0o7777,
      fileHash: walked.ok ? walked.walk.fileHash! : '',
      entries: digest.entries,
      digest: digest.digest,
      dbs: digest.dbs,
    };
  }));
}

/**
 * A backup = compacted copy of every env + every other file, then the manifest (written last: without it the
 * backup is incomplete), then a full verification recorded in the backup dir: the copy is read back once (every
 * entry, every byte) and compared with the digests of what was copied. A failed verification leaves the backup
 * marked as failed (never used by the upgrade gate) and throws.
 */
export async function createBackup(options: CreateBackupOptions): Promise<CreatedBackup> {
  const o = normalizeCreateOptions(options);
  assertBackupDestination(o.dst, o.cellDir);
  for (const reserved of RESERVED_FILES) {
    if (await exists(path.join(o.cellDir, reserved))) throw new SynupError('refused', `${o.cellDir} has a ${reserved} at its top; synup keeps its own ${reserved} there in a backup`, { hint: 'is this a backup dir rather than a cell? back up the cell itself' });
  }
  checkWritableDir(path.dirname(o.dst), 'the backup dir');
  const info = await readCellInfo(o.cellDir);
  await mkdir(path.dirname(o.dst), { recursive: true });
  const partialRemoved = (error: unknown) =>
    error instanceof Interrupted ? new Interrupted(error.signalName, `${error.message}: removed the partial backup ${o.dst} (no manifest yet); nothing else was changed`, 'run `synup backup` again when ready') : error;
  // Marked as synup's own before anything exists there, so `synup prune` can remove it if this process is killed.
  const marked = !(await exists(o.dst));
  if (marked) markPartial(o.dst);
  let copy: CopyCellResult;
  let manifest: Manifest;
  let copyWalk: CopyWalk;
  // The copy is read once (file hash, and every entry when verifying or when no snapshot digest covers a live copy).
  const readBack = readBackCopy(o.dst, { jobs: o.jobs, digest: (snapshotDigest) => o.verify || (!snapshotDigest && o.mode === 'live') });
  try {
    copy = await copyCell({ src: o.cellDir, dst: o.dst, mode: o.mode, engine: o.engine, jobs: o.jobs, skipDirs: o.skipDirs, digest: true, python: o.python, onProgress: o.onProgress, onEnvCopied: readBack.onEnvCopied, signal: o.signal }).catch(async (error: unknown) => {
      await readBack.abandon();
      throw partialRemoved(error);
    });
    try {
      o.signal?.throwIfAborted();
      o.onProgress({ phase: 'verify', bytesDone: 0, bytesTotal: copy.bytesAfter, message: `reading back ${copy.envs.length} envs` });
      copyWalk = await readBack.finish(copy);
      const { digestOf, walks } = await manifestDigests(copy, o.mode, copyWalk.outcomes, o.jobs);
      manifest = sealManifest({
        format: 'synup-backup/1',
        synupVersion: SYNUP_VERSION,
        createdAt: new Date().toISOString(),
        mode: o.mode,
        engine: copy.engine,
        consistency: copy.consistency,
        digestOf,
        source: { dir: o.cellDir, host: os.hostname() },
        cell: { guid: info.guid, cellVersion: info.cellVersion, synapseVersion: info.synapseVersion },
        skipDirs: o.skipDirs,
        envs: await manifestEnvs(copy, walks, copyWalk.outcomes),
        files: copy.files,
        symlinks: copy.symlinks,
        dirs: copy.dirs,
        rootMode: copy.rootMode,
        totals: { bytesBefore: copy.bytesBefore, bytesAfter: copy.bytesAfter, durationMs: copy.durationMs },
        notes: copy.notes,
      });
      o.signal?.throwIfAborted();
      writeManifest(o.dst, manifest);
    } catch (error) {
      await readBack.abandon();
      await rm(o.dst, { recursive: true, force: true }); // synup's own, and without a manifest it is no backup
      throw partialRemoved(error);
    }
  } finally {
    if (marked) clearPartial(o.dst);
  }
  if (!o.verify) return { dir: o.dst, manifest, copy, verification: null };
  // The copy's walk above is the verification's: its digests against the manifest's (the copied snapshot's).
  const verification = await verifyBackup(o.dst, { jobs: o.jobs, walked: copyWalk });
  if (!verification.ok) {
    throw new SynupError('failed', `backup ${o.dst} failed its verification: ${verification.problems.slice(0, 3).map((p) => p.message).join('; ')}`, {
      hint: 'the backup is kept for diagnosis and marked as failed; check the disk, then run `synup backup` again',
      details: { backupDir: o.dst, problems: verification.problems },
    });
  }
  return { dir: o.dst, manifest, copy, verification };
}
