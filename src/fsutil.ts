import { accessSync, chmodSync, closeSync, constants, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readlinkSync, readSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { SynupError } from './errors.js';

/** Makes a private dir (0700) for synup's own state. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') throw new SynupError('usage', `cannot use ${dir} as a synup state dir: it (or a parent) is not a directory`, { hint: 'set state.dir (or SYNUP_STATE_DIR) to a directory synup may write' });
    if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') throw new SynupError('usage', `cannot write the synup state dir ${dir}: ${code}`, { hint: 'set state.dir (or SYNUP_STATE_DIR) to a directory synup may write' });
    throw error;
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write-to-temp + fsync + rename + fsync(dir): the file is either the old or the new content, never half. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  fsyncDir(path.dirname(file));
}

/** rename(2) then fsync of both parents, so the new name survives a power cut. */
export function renameDurable(from: string, to: string): void {
  renameSync(from, to);
  fsyncDir(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) fsyncDir(path.dirname(from));
}

/**
 * Reads a regular file as UTF-8, at most `maxBytes` (counted while reading, so a growing file or a device cannot
 * exhaust memory). Opened non-blocking so a FIFO cannot hang the open; anything but a regular file is refused.
 * Says why when it is not a regular file or bigger than `maxBytes`; throws the errno error otherwise.
 */
export function readRegularFile(file: string, maxBytes: number): { text: string } | { notRegular: string } | { tooBig: true } {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { notRegular: kindOfStats(st) };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 20, maxBytes + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      total += n;
      if (total > maxBytes) return { tooBig: true };
      chunks.push(chunk.subarray(0, n));
    }
    return { text: Buffer.concat(chunks).toString('utf8') };
  } finally {
    closeSync(fd);
  }
}

export interface BoundedTextOptions {
  /** What the file is, for messages: `changelog`, `config`, `deployment file`. */
  what: string;
  /** The same with an article, for "too big for …": `a changelog`. */
  noun: string;
  maxBytes: number;
  /** What to do when it is not a regular file or too big. */
  hint: string;
  /** What to do when it cannot be opened (default: `hint`). */
  readHint?: string;
}

/**
 * The one way synup reads a file an operator names (config, deployment file, changelog): a regular file only, at most
 * `maxBytes` counted while reading (readRegularFile); anything else is a usage error (exit 2) saying what it is.
 */
export function readBoundedText(file: string, options: BoundedTextOptions): string {
  let read: ReturnType<typeof readRegularFile>;
  try {
    read = readRegularFile(file, options.maxBytes);
  } catch (error) {
    throw new SynupError('usage', `cannot read ${options.what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { hint: options.readHint ?? options.hint });
  }
  if ('notRegular' in read) throw new SynupError('usage', `${options.what} ${file} is ${read.notRegular}, not a regular file`, { hint: options.hint });
  if ('tooBig' in read) throw new SynupError('usage', `${options.what} ${file} is over ${formatMiB(options.maxBytes)}: too big for ${options.noun}`, { hint: options.hint });
  return read.text;
}

const formatMiB = (bytes: number) => `${+(bytes / 2 ** 20).toFixed(2)} MiB`;

/**
 * An output file an operator named (`-o`, `--report`, `--summary`): refused before any work if synup cannot write it
 * there. Only a new path or a regular file is written: a symlink, FIFO, device or socket is refused (exit 2) rather than
 * replaced by a regular file (as root, `-o /dev/full` would otherwise replace the host's device node).
 */
export function checkOutputFile(file: string, flag: string): void {
  const parent = path.dirname(file);
  const st = lstatIfExists(file);
  if (st?.isDirectory()) throw new SynupError('usage', `${flag} ${file} is a directory`, { hint: `name a file, e.g. ${path.join(file, 'plan.md')}` });
  if (st?.isSymbolicLink()) {
    throw new SynupError('usage', `${flag} ${file}: is a symlink (to ${readlinkSync(file)}); synup writes only a regular file or a new path`, { hint: 'name the regular file itself, or a new path' });
  }
  if (st && !st.isFile()) throw new SynupError('usage', `${flag} ${file}: is ${kindOfStats(st)}; synup writes only a regular file or a new path`, { hint: 'name a regular file or a new path' });
  const dir = statIfExists(parent);
  if (!dir) throw new SynupError('usage', `${flag} ${file}: the dir ${parent} does not exist`, { hint: `create it first (mkdir -p ${parent}) or name a file in an existing dir` });
  if (!dir.isDirectory()) throw new SynupError('usage', `${flag} ${file}: ${parent} is not a directory`);
  const why = whyNotWritable(parent);
  if (why) throw new SynupError('refused', `${flag} ${file}: cannot write there: ${why}`, { hint: 'name a file in a dir synup may write' });
}

/** Writes an operator-named output file (checked again just before the write: it may have changed meanwhile), 0644. */
export function writeOutputFile(file: string, data: string | Buffer, flag: string): void {
  checkOutputFile(file, flag);
  writeFileAtomic(file, data, 0o644);
}

/** What a non-regular file is, in words for an error message. */
export function kindOfStats(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : st.isSymbolicLink() ? 'a symlink' : 'not a regular file';
}

function lstatIfExists(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

function statIfExists(file: string): Stats | null {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** Why synup cannot create files in `dir` (read-only filesystem, permissions), or null when it can. */
export function whyNotWritable(dir: string): string | null {
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${code === 'EROFS' ? `${dir} is on a read-only filesystem` : `permission denied on ${dir}`} (${code})`;
  }
}

/**
 * A dir synup is about to create files in (made with mkdir -p if missing): refused up front when its nearest
 * existing ancestor is not a writable directory, instead of a raw errno after work has begun.
 */
export function checkWritableDir(dir: string, what: string): void {
  let existing = dir;
  while (!statIfExists(existing)) existing = path.dirname(existing);
  if (!statIfExists(existing)!.isDirectory()) throw new SynupError('usage', `cannot use ${dir} as ${what}: ${existing} is not a directory`, { hint: `point ${what} at a directory` });
  const why = whyNotWritable(existing);
  if (why) throw new SynupError('refused', `cannot write ${what} ${dir}: ${why}`, { hint: `point ${what} at a writable directory` });
}
