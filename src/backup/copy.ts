import os from 'node:os';
import { chmod, lstat, mkdir, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { SynupError } from '../errors.js';
import { DEFAULT_SKIP_DIRS, largestFirst, scanCell, type CellTree } from '../lmdb/discover.js';
import type { EnvWalk } from '../lmdb/dbinfo.js';
import { readMeta } from '../lmdb/format.js';
import { keepTail } from '../proc.js';
import { assertNotHeld } from '../safety/held.js';
import { envCopiers, resolveEngine, synapseBackupModule, type Engine, type EngineName, type EnvCopyJob } from './engines.js';
import { copyOwnership } from './owners.js';
import { copyFileSparse, exists, finishDirs, fsyncTree, makeDirs, sha256File } from './files.js';

export interface CopyProgress {
  phase: 'copy' | 'files';
  /** The env being copied (relative path), when one is. */
  env?: string;
  bytesDone: number;
  bytesTotal: number;
  message?: string;
}

export interface CopyCellOptions {
  src: string;
  /** Must not exist; its parent must (on the filesystem the caller chose). */
  dst: string;
  /** live: the service may be writing (one read snapshot over all envs where the engine allows); cold: nothing may hold the cell. */
  mode: 'live' | 'cold';
  engine?: Engine;
  /** Envs compacted in parallel (default: cores). */
  jobs?: number;
  /** Dir globs left out (default: Synapse's `**\/tmp`, `**\/backups`); given = the whole list. */
  skipDirs?: string[];
  /** Also digest each env's copied snapshot in the same pass (builtin engine; others leave `snapshot` unset). */
  digest?: boolean;
  /** Python for the synapse engine. */
  python?: string;
  onProgress?: (event: CopyProgress) => void;
  /** An env's copy is complete and fsynced (per-env engines; `snapshotDigest`: its `snapshot` digest will be set). */
  onEnvCopied?: (env: { path: string; snapshotDigest: boolean }) => void;
  /** Aborted (SIGINT/SIGTERM): the env copy under way finishes, then the copy stops and its dir is removed. */
  signal?: AbortSignal;
}

export interface CopiedEnv {
  /** Relative to the cell dir. */
  path: string;
  bytesBefore: number;
  bytesAfter: number;
  /** Really on disk (st_blocks) before and after: a sparse data.mdb's size is its map size, not its use. */
  diskBytesBefore?: number;
  diskBytesAfter?: number;
  durationMs: number;
  /** Digest of exactly the snapshot that was copied (builtin engine with `digest`). */
  snapshot?: EnvWalk;
}

export interface CopiedFileEntry {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
  sha256: string;
}

export interface CopyCellResult {
  engine: EngineName;
  /** snapshot: every env copied from read txns begun before any copy (or a stopped cell); per-env: each env consistent on its own. */
  consistency: 'snapshot' | 'per-env';
  src: string;
  dst: string;
  envs: CopiedEnv[];
  files: CopiedFileEntry[];
  symlinks: { path: string; target: string }[];
  dirs: { path: string; mode: number; mtimeMs: number }[];
  rootMode: number;
  /** What was left out or kept as is (orphan *.lmdb, skipped dirs, sockets, links pointing out of the cell). */
  notes: string[];
  bytesBefore: number;
  bytesAfter: number;
  /** Really on disk (st_blocks), source and copy: a sparse data.mdb's size is its map size, not its use. */
  diskBytesBefore: number;
  diskBytesAfter: number;
  durationMs: number;
}

function normalizeCopyOptions(options: CopyCellOptions) {
  return {
    src: path.resolve(options.src),
    dst: path.resolve(options.dst),
    mode: options.mode,
    engine: options.engine ?? 'auto',
    jobs: Math.max(1, options.jobs ?? os.availableParallelism()),
    skipDirs: options.skipDirs ?? DEFAULT_SKIP_DIRS,
    digest: options.digest ?? false,
    python: options.python ?? 'python3',
    onProgress: options.onProgress ?? (() => undefined),
    onEnvCopied: options.onEnvCopied ?? (() => undefined),
    signal: options.signal,
  };
}

type Options = ReturnType<typeof normalizeCopyOptions>;

async function assertTargetIsNew(dst: string): Promise<void> {
  if (await exists(dst)) throw new SynupError('refused', `${dst} already exists; a copy is only ever made into a new dir`, { hint: 'pick another destination, or move that one away first' });
  const parent = await stat(path.dirname(dst)).catch(() => null);
  if (!parent?.isDirectory()) throw new SynupError('usage', `${path.dirname(dst)} does not exist`, { hint: 'create the parent dir of the destination first' });
}

function notesOf(tree: CellTree): string[] {
  return [
    ...tree.orphans.map((rel) => `${rel}: ends in .lmdb but holds no data.mdb; not copied`),
    ...tree.skipped.map((rel) => `${rel}/: skipped`),
    ...tree.special.map((rel) => `${rel}: not a regular file (socket, fifo or device); not copied`),
    ...tree.symlinks.filter((l) => l.escapes).map((l) => `${l.rel} -> ${l.target}: points out of the cell; copied as a link, target not copied`),
  ];
}

/** Compacts every env with a per-env engine, largest first, then copies the other files and links. */
async function copyTree(o: Options, tree: CellTree, engine: Exclude<EngineName, 'synapse'>): Promise<Pick<CopyCellResult, 'envs' | 'files' | 'dirs' | 'symlinks'>> {
  const envs = largestFirst(tree.envs);
  // Upper bounds of the compacted sizes (from the meta pages), for progress until the engine knows better.
  const estimates = await Promise.all(envs.map(async (env) => {
    const meta = await readMeta(path.join(env.dir, 'data.mdb'));
    return (meta.lastPage + 1) * meta.pageSize;
  }));
  await makeDirs(o.dst, tree.dirs.map((d) => d.rel));
  const jobs: EnvCopyJob[] = envs.map((env) => ({ rel: env.rel, src: env.dir, out: path.join(o.dst, env.rel) }));
  const done = envs.map(() => 0);
  const totals = [...estimates];
  const report = (index: number, bytesDone: number, bytesTotal?: number) => {
    done[index] = bytesDone;
    if (bytesTotal !== undefined) totals[index] = bytesTotal;
    o.onProgress({ phase: 'copy', env: envs[index]!.rel, bytesDone: sum(done), bytesTotal: sum(totals) });
  };
  const copied = jobs.length > 0 ? await envCopiers[engine](jobs, {
    jobs: o.jobs,
    digest: o.digest,
    onBytes: report,
    onCopied: (index) => o.onEnvCopied({ path: envs[index]!.rel, snapshotDigest: engine === 'builtin' && o.digest }),
  }) : [];
  o.signal?.throwIfAborted();
  for (const env of envs) await chmod(path.join(o.dst, env.rel, 'data.mdb'), env.mode);
  const filesTotal = sum(tree.files.map((f) => f.size));
  let filesDone = 0;
  const files: CopiedFileEntry[] = [];
  for (const file of tree.files) {
    o.signal?.throwIfAborted();
    const { sha256, size } = await copyFileSparse(path.join(o.src, file.rel), path.join(o.dst, file.rel), file, (n) => {
      filesDone += n;
      o.onProgress({ phase: 'files', bytesDone: filesDone, bytesTotal: filesTotal });
    });
    files.push({ path: file.rel, size, mode: file.mode, mtimeMs: file.mtimeMs, sha256 });
  }
  for (const link of tree.symlinks) await symlink(link.target, path.join(o.dst, link.rel));
  return {
    envs: envs.map((env, i) => ({ path: env.rel, bytesBefore: env.dataBytes, ...copied[i]! })),
    files,
    dirs: dirsOf(tree),
    symlinks: linksOf(tree),
  };
}

/** Delegates the whole copy to `python -m synapse.tools.service.backup`, then fsyncs and describes what it wrote. */
async function copyWithSynapse(o: Options, tree: CellTree): Promise<Pick<CopyCellResult, 'envs' | 'files' | 'dirs' | 'symlinks'>> {
  const module = (await synapseBackupModule(o.python))!;
  const extraSkips = o.skipDirs.filter((glob) => !DEFAULT_SKIP_DIRS.includes(glob));
  const started = Date.now();
  o.onProgress({ phase: 'copy', bytesDone: 0, bytesTotal: sum(tree.envs.map((e) => e.dataBytes)), message: `running ${o.python} -m ${module}` });
  // Its log can be long (a line per env): only the end of stderr is kept, for the error; stdout is not read.
  const child = execa(o.python, ['-m', module, ...(extraSkips.length ? ['--skipdirs', ...extraSkips] : []), o.src, o.dst], { reject: false, stdin: 'ignore', stdout: 'ignore', buffer: false });
  const stderr = keepTail(child.stderr);
  const result = await child;
  if (result.exitCode !== 0) {
    throw new SynupError('failed', `${module} failed (${result.exitCode ?? result.signal}): ${stderr().trim().split('\n').slice(-3).join(' / ')}`);
  }
  await fsyncTree(o.dst);
  const durationMs = Date.now() - started;
  const written = await scanCell(o.dst, { skipDirs: [] });
  const envs = largestFirst(tree.envs).map((env) => {
    const copy = written.envs.find((w) => w.rel === env.rel);
    if (!copy) throw new SynupError('failed', `${module} did not copy ${env.rel}`);
    return { path: env.rel, bytesBefore: env.dataBytes, bytesAfter: copy.dataBytes, durationMs };
  });
  const files = await Promise.all(written.files.map(async (f) => ({ path: f.rel, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs, sha256: await sha256File(path.join(o.dst, f.rel)) })));
  return { envs, files, dirs: dirsOf(written), symlinks: linksOf(written) };
}

/**
 * Copies a cell dir into a new dir: every LMDB env compacted (largest first, `jobs` at a time), every other regular
 * file sparse-aware with its mode and mtime, links as links (never followed); all fsynced. On failure the new dir
 * is removed (it is synup's own) and the source is untouched.
 */
export async function copyCell(options: CopyCellOptions): Promise<CopyCellResult> {
  const o = normalizeCopyOptions(options);
  const started = Date.now();
  await assertTargetIsNew(o.dst);
  const tree = await scanCell(o.src, { skipDirs: o.skipDirs });
  if (o.mode === 'cold') await assertNotHeld(o.src, 'cold copy');
  for (const env of tree.envs) await readMeta(path.join(env.dir, 'data.mdb')); // refuses an unknown format before any native code
  const engine = await resolveEngine(o.engine, { python: o.python });
  const rootMode = (await lstat(o.src)).mode & 0o7777;
  let madeDst = false;
  try {
    let copied: Pick<CopyCellResult, 'envs' | 'files' | 'dirs' | 'symlinks'>;
    if (engine === 'synapse') {
      madeDst = true;
      copied = await copyWithSynapse(o, tree);
      o.signal?.throwIfAborted();
    } else {
      await mkdir(o.dst, { mode: 0o700 });
      madeDst = true;
      copied = await copyTree(o, tree, engine);
    }
    await finishDirs(o.dst, copied.dirs, rootMode);
    await copyOwnership(o.src, o.dst);
    const bytesBefore = sum(copied.envs.map((e) => e.bytesBefore)) + sum(tree.files.map((f) => f.size));
    const bytesAfter = sum(copied.envs.map((e) => e.bytesAfter)) + sum(copied.files.map((f) => f.size));
    const written = await scanCell(o.dst, { skipDirs: [] });
    const onDisk = (t: CellTree) => sum(t.envs.map((e) => e.allocatedBytes)) + sum(t.files.map((f) => f.allocatedBytes));
    const snapshotEngine = engine === 'builtin' || engine === 'synapse';
    return {
      engine,
      consistency: o.mode === 'cold' || snapshotEngine ? 'snapshot' : 'per-env',
      src: o.src,
      dst: o.dst,
      envs: copied.envs.map((e) => ({
        ...e,
        diskBytesBefore: tree.envs.find((t) => t.rel === e.path)?.allocatedBytes ?? e.bytesBefore,
        diskBytesAfter: written.envs.find((w) => w.rel === e.path)?.allocatedBytes ?? e.bytesAfter,
      })),
      files: copied.files,
      symlinks: copied.symlinks,
      dirs: copied.dirs,
      rootMode,
      notes: notesOf(tree),
      bytesBefore,
      bytesAfter,
      diskBytesBefore: onDisk(tree),
      diskBytesAfter: onDisk(written),
      durationMs: Date.now() - started,
    };
  } catch (error) {
    if (madeDst) await rm(o.dst, { recursive: true, force: true });
    throw error;
  }
}

function dirsOf(tree: CellTree): CopyCellResult['dirs'] {
  return tree.dirs.map((d) => ({ path: d.rel, mode: d.mode, mtimeMs: d.mtimeMs }));
}

function linksOf(tree: CellTree): CopyCellResult['symlinks'] {
  return tree.symlinks.map((l) => ({ path: l.rel, target: l.target }));
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
