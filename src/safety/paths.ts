import { existsSync, lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { SynupError } from '../errors.js';

/**
 * The target path guard: every path synup writes to that comes from a manifest or a user goes through here, so a
 * crafted manifest or a mistyped argument can never make synup write outside its target or into a backup.
 */

/** Why a path taken from a manifest is unsafe to join onto a target dir, or null when it stays inside. */
export function unsafeRelativePath(rel: string): string | null {
  if (rel === '' || rel.includes('\0')) return `${JSON.stringify(rel)} is empty or holds a NUL byte`;
  if (path.isAbsolute(rel)) return `${JSON.stringify(rel)} is absolute`;
  if (rel.split(/[\\/]/).some((part) => part === '..')) return `${JSON.stringify(rel)} climbs out with ".."`;
  return null;
}

/** Whether `inner` is `outer` or below it (both absolute, already resolved). */
export function isWithin(inner: string, outer: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel));
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest: symlinks anywhere above resolved. */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let at = abs;
  for (;;) {
    try {
      return path.join(realpathSync(at), ...rest.reverse());
    } catch {
      const parent = path.dirname(at);
      if (parent === at) return abs;
      rest.push(path.basename(at));
      at = parent;
    }
  }
}

/**
 * A dir an operator named, symlinks resolved so that reads and renames act on the data, not on a link (as a cell dir
 * is: config/cell-dir.ts): `/data/cortex00 -> /mnt/disk2/cortex00` is worked on at /mnt/disk2/cortex00 and the link
 * stays. A missing path comes back with its parents resolved; a symlink to nothing is refused (exit 2).
 */
export function resolveNamedDir(p: string, what: string): string {
  const abs = path.resolve(p);
  if (lstatSync(abs, { throwIfNoEntry: false })?.isSymbolicLink() && !existsSync(abs)) {
    throw new SynupError('usage', `${what} ${abs} is a symlink to ${readlinkSync(abs)}, which does not exist`, { hint: 'fix or remove the link, or name the dir itself' });
  }
  return realPathOf(abs);
}

/** The synup backup dir that holds `p` (p itself or an ancestor has a synup manifest.json), or null. */
export function enclosingBackup(p: string): string | null {
  for (let at = realPathOf(p); ; at = path.dirname(at)) {
    const manifest = path.join(at, 'manifest.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { format?: unknown }).format === 'synup-backup/1') return at;
      } catch {
        // not a synup manifest
      }
    }
    if (path.dirname(at) === at) return null;
  }
}

/** A restore target (or any dir synup is asked to fill) must not be a backup or lie inside one. */
export function assertNotInBackup(target: string, what: string): void {
  const backup = enclosingBackup(target);
  if (backup) {
    throw new SynupError('refused', `${what} ${target} is inside the backup ${backup}: writing there would change the backup; nothing was changed`, {
      hint: 'pick a dir outside every backup',
    });
  }
}

/**
 * A backup destination must not be inside the cell it backs up (later backups and the upgrade's cold defrag would
 * copy it), except the cell's own `backups/` dir, which every copy skips.
 */
export function assertBackupDestination(dst: string, cellDir: string): void {
  const realDst = realPathOf(dst);
  const realCell = realPathOf(cellDir);
  const skipped = path.join(realCell, 'backups');
  const why = isWithin(realCell, realDst)
    ? 'is the cell dir or contains it'
    : isWithin(realDst, realCell) && !(realDst !== skipped && isWithin(realDst, skipped))
      ? 'is inside the cell dir'
      : null;
  if (!why) return;
  throw new SynupError('refused', `backup destination ${dst} ${why} (${cellDir}): later backups and upgrades would copy it; nothing was changed`, {
    hint: `pick a dir outside the cell (backup.dir), or ${path.join(cellDir, 'backups')}/<name>, which every copy skips`,
  });
}
