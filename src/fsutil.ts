import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
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
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(path.dirname(file));
}

/** rename(2) then fsync of both parents, so the new name survives a power cut. */
export function renameDurable(from: string, to: string): void {
  renameSync(from, to);
  fsyncDir(path.dirname(to));
  if (path.dirname(from) !== path.dirname(to)) fsyncDir(path.dirname(from));
}
