import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Synapse's services run as uid 999 while synup runs as root: what synup writes must keep the service's owners. */

async function* walk(root: string, rel = ''): AsyncGenerator<{ rel: string; stat: Stats }> {
  const stat = await lstat(path.join(root, rel));
  yield { rel, stat };
  if (!stat.isDirectory()) return;
  for (const name of await readdir(path.join(root, rel))) yield* walk(root, path.join(rel, name));
}

/**
 * Gives every entry of `dst` the owner, group and mode of the entry at the same path in `src`; an entry `src` lacks
 * takes the owner of `src` itself. Links are chowned as links (never followed).
 */
export async function copyOwnership(src: string, dst: string): Promise<void> {
  const root = await lstat(src);
  for await (const { rel, stat } of walk(dst)) {
    const want = (await lstat(path.join(src, rel)).catch(() => null)) ?? root;
    if (stat.uid !== want.uid || stat.gid !== want.gid) await lchown(path.join(dst, rel), want.uid, want.gid);
    // chown clears set-id bits; a missing counterpart keeps the mode synup gave it.
    if (!stat.isSymbolicLink() && want !== root && (stat.mode & 0o7777) !== (want.mode & 0o7777)) await chmod(path.join(dst, rel), want.mode & 0o7777);
  }
}

/**
 * Why synup could not keep the owners of `dir`'s entries, or null when it can: root can give any owner; another
 * user only its own uid and its groups.
 */
export async function ownershipProblem(dir: string): Promise<string | null> {
  const uid = process.geteuid?.();
  if (uid === undefined || uid === 0) return null;
  const groups = new Set([process.getegid?.(), ...(process.getgroups?.() ?? [])]);
  for await (const { rel, stat } of walk(dir)) {
    if (stat.uid !== uid || !groups.has(stat.gid)) {
      return `${path.join(dir, rel)} belongs to uid ${stat.uid} gid ${stat.gid}; synup runs as uid ${uid} and could not give its copies that owner`;
    }
  }
  return null;
}
