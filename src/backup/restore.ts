import { mkdir, readdir, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { SynupError } from '../errors.js';
import { renameDurable } from '../fsutil.js';
import type { WalkEngine } from '../lmdb/walk.js';
import { backupStamp } from './create.js';
import { backupBytesChanged } from './find.js';
import { copyFileDense, copyFileSparse, finishDirs, makeDirs } from './files.js';
import { readManifest, readVerification } from './manifest.js';
import { copyOwnership } from './owners.js';
import { verifyTree, type VerifyChecked } from './verify.js';
import { assertNotHeld } from '../safety/held.js';
import { assertNotInBackup, isWithin, realPathOf, resolveNamedDir } from '../safety/paths.js';
import { restoreDirs } from '../siblings.js';

export interface RestoreOptions {
  backupDir: string;
  targetDir: string;
  /** A non-empty target is moved aside to `<target>.synup-replaced-<stamp>` (never deleted). */
  replace?: boolean;
  /** synup's state dir: where a run keeps its lock when it could not write beside the cell (a target under a live run's lock is refused). */
  stateDir?: string;
  jobs?: number;
  engine?: WalkEngine;
  now?: Date;
  onProgress?: (event: { phase: 'restore' | 'verify'; bytesDone: number; bytesTotal: number }) => void;
}

export interface RestoreResult {
  targetDir: string;
  /** Where the old target went (with `replace`), or null. */
  movedAside: string | null;
  bytes: number;
  checked: VerifyChecked;
  durationMs: number;
}

async function targetState(target: string): Promise<'absent' | 'empty' | 'occupied'> {
  const st = await stat(target).catch(() => null);
  if (!st) return 'absent';
  if (!st.isDirectory()) return 'occupied';
  return (await readdir(target)).length === 0 ? 'empty' : 'occupied';
}

/**
 * Restores a backup into a dir: copied into `<target>.synup-restoring-<stamp>` beside it, verified there against the
 * manifest (every env walked, every file hashed), then renamed into place. A non-empty target is refused unless
 * `replace`, which moves it aside first (and back if the final rename fails). The backup is never modified.
 */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const backupDir = path.resolve(options.backupDir);
  // Through a symlink to a dir, the dir itself is replaced (moved aside beside it); the link stays.
  const target = resolveNamedDir(options.targetDir, 'restore target');
  const read = await readManifest(backupDir);
  if (!read.ok) throw new SynupError('refused', `cannot restore from ${backupDir}: ${read.message}`, { hint: 'pick a complete backup (`synup verify <backup>` tells which are)' });
  const { manifest } = read;
  const verification = await readVerification(backupDir);
  if (verification && verification.manifestChecksum === manifest.checksum && !verification.ok) {
    throw new SynupError('refused', `${backupDir} failed its last verification (${verification.problems[0]?.message ?? 'see synup-verified.json'})`, { hint: 'restore another backup, or run `synup verify` again if the disk was fixed' });
  }
  assertNotInBackup(target, 'restore target');
  if (isWithin(realPathOf(backupDir), realPathOf(target))) {
    throw new SynupError('refused', `restore target ${target} contains the backup ${backupDir}; nothing was changed`, { hint: 'restore into a dir outside the backup' });
  }
  await assertNotHeld(target, 'restore', { runLock: true, stateDir: options.stateDir });
  const state = await targetState(target);
  if (state === 'occupied' && !options.replace) {
    throw new SynupError('refused', `${target} exists and is not empty; nothing was changed`, { hint: 'pass --replace to move it aside (it is kept, never deleted), or pick an empty dir' });
  }
  if (!(await stat(path.dirname(target)).catch(() => null))?.isDirectory()) throw new SynupError('usage', `${path.dirname(target)} does not exist`);
  const changed = await backupBytesChanged(backupDir, manifest);
  if (changed) {
    throw new SynupError('refused', `cannot restore from ${backupDir}: changed since it was written: ${changed}; nothing was changed`, { hint: 'restore another backup; `synup verify` names every difference' });
  }

  const stamp = backupStamp(options.now ?? new Date());
  const staging = restoreDirs(target, stamp).restoring;
  const total = manifest.envs.reduce((sum, env) => sum + env.bytes, 0) + manifest.files.reduce((sum, file) => sum + file.size, 0);
  const progress = options.onProgress ?? (() => undefined);
  let done = 0;
  await mkdir(staging, { mode: 0o700 });
  try {
    await makeDirs(staging, manifest.dirs.map((d) => d.path));
    for (const env of manifest.envs) {
      await mkdir(path.join(staging, env.path), { recursive: true, mode: 0o700 });
      await copyFileDense(path.join(backupDir, env.path, 'data.mdb'), path.join(staging, env.path, 'data.mdb'), env.mode);
      done += env.bytes;
      progress({ phase: 'restore', bytesDone: done, bytesTotal: total });
    }
    for (const file of manifest.files) {
      await copyFileSparse(path.join(backupDir, file.path), path.join(staging, file.path), file, (n) => {
        done += n;
        progress({ phase: 'restore', bytesDone: done, bytesTotal: total });
      });
    }
    for (const link of manifest.symlinks) await symlink(link.target, path.join(staging, link.path));
    await finishDirs(staging, manifest.dirs, manifest.rootMode);
    await copyOwnership(backupDir, staging);
    progress({ phase: 'verify', bytesDone: 0, bytesTotal: total });
    const { problems, checked } = await verifyTree(staging, manifest, { jobs: options.jobs, engine: options.engine });
    if (problems.length > 0) {
      throw new SynupError('failed', `the restored copy does not match the backup: ${problems.slice(0, 3).map((p) => p.message).join('; ')}`, { hint: `${target} was not touched; verify the backup with \`synup verify ${backupDir}\`` });
    }
    let movedAside: string | null = null;
    if (state === 'occupied') {
      movedAside = restoreDirs(target, stamp).replaced;
      renameDurable(target, movedAside);
    }
    try {
      renameDurable(staging, target);
    } catch (error) {
      if (movedAside) renameDurable(movedAside, target);
      throw error;
    }
    return { targetDir: target, movedAside, bytes: total, checked, durationMs: Date.now() - started };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}
