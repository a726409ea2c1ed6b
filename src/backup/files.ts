import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readdir, utimes } from 'node:fs/promises';
import path from 'node:path';

/** Zero runs of at least this size become holes in the copy. */
const HOLE_BLOCK = 64 * 1024;
const ZERO = Buffer.alloc(HOLE_BLOCK);

export interface CopiedFile {
  size: number;
  sha256: string;
}

/**
 * Copies one regular file sparse-aware (zero blocks become holes, like `cp --sparse=always`), with its mode and
 * mtime, hashing it (sha256) on the way, then fsyncs it. The destination must not exist.
 */
export async function copyFileSparse(src: string, dst: string, meta: { mode: number; mtimeMs: number }, onBytes?: (n: number) => void): Promise<CopiedFile> {
  const input = await open(src, 'r');
  try {
    const output = await open(dst, 'wx', 0o600);
    try {
      const sha = createHash('sha256');
      const buf = Buffer.allocUnsafe(1 << 20);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        sha.update(chunk);
        // Write runs of non-zero blocks; skip zero blocks (the final truncate keeps the size).
        let runStart = -1;
        for (let off = 0; off < bytesRead; off += HOLE_BLOCK) {
          const block = chunk.subarray(off, Math.min(off + HOLE_BLOCK, bytesRead));
          const zero = block.equals(ZERO.subarray(0, block.length));
          if (!zero && runStart < 0) runStart = off;
          if (zero && runStart >= 0) {
            await output.write(chunk, runStart, off - runStart, pos + runStart);
            runStart = -1;
          }
        }
        if (runStart >= 0) await output.write(chunk, runStart, bytesRead - runStart, pos + runStart);
        pos += bytesRead;
        onBytes?.(bytesRead);
      }
      await output.truncate(pos);
      await output.chmod(meta.mode);
      await output.utimes(meta.mtimeMs / 1000, meta.mtimeMs / 1000);
      await output.sync();
      return { size: pos, sha256: sha.digest('hex') };
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/** Copies a dense file (a backup's data.mdb) by reflink when the filesystem can, else in the kernel; then fsync. */
export async function copyFileDense(src: string, dst: string, mode: number): Promise<void> {
  await copyFile(src, dst, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await chmod(dst, mode);
  await fsyncPath(dst);
}

export async function sha256File(file: string): Promise<string> {
  const sha = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      sha.update(buf.subarray(0, bytesRead));
    }
    return sha.digest('hex');
  } finally {
    await handle.close();
  }
}

export async function fsyncPath(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates the dirs of a tree (0700 while it is being filled; `finishDirs` sets the real modes). */
export async function makeDirs(root: string, rels: string[]): Promise<void> {
  for (const rel of rels) await mkdir(path.join(root, rel), { recursive: true, mode: 0o700 });
}

/** Sets each dir's mode and mtime and fsyncs it, deepest first, then the root and its parent. */
export async function finishDirs(root: string, dirs: { path: string; mode: number; mtimeMs?: number }[], rootMode: number): Promise<void> {
  const deepestFirst = [...dirs].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const dir of deepestFirst) {
    const abs = path.join(root, dir.path);
    await chmod(abs, dir.mode);
    if (dir.mtimeMs !== undefined) await utimes(abs, dir.mtimeMs / 1000, dir.mtimeMs / 1000);
    await fsyncPath(abs);
  }
  await chmod(root, rootMode);
  await fsyncPath(root);
  await fsyncPath(path.dirname(root));
}

/** fsyncs every regular file and dir under root (after a tool we do not control wrote it). */
export async function fsyncTree(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const abs = path.join(root, entry.name);
    if (entry.isDirectory()) await fsyncTree(abs);
    else if (entry.isFile()) await fsyncPath(abs);
  }
  await fsyncPath(root);
}

export async function exists(file: string): Promise<boolean> {
  return lstat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Runs `fn` over items with at most `jobs` at a time, in order of start. Not p-limit: after the first failure no
 * further item starts (each is a multi-GB copy), which a limiter's queue does not do without extra bookkeeping.
 */
export async function runPool<T, R>(items: T[], jobs: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
