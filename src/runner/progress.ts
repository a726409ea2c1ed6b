import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * A cheap fingerprint of how far a migrating cell has got: size and mtime of every data.mdb. When it changes, the
 * service is making progress even if its log is quiet (LMDB grows the file and rewrites meta pages on commit).
 */
export async function dataFingerprint(dir: string, depth = 4): Promise<string> {
  const parts: string[] = [];
  async function walk(d: string, level: number): Promise<void> {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory() && level < depth) await walk(full, level + 1);
      else if (entry.name === 'data.mdb') {
        const s = await stat(full).catch(() => null);
        if (s) parts.push(`${full}:${s.size}:${s.mtimeMs}`);
      }
    }
  }
  await walk(dir, 0);
  return parts.sort().join('|');
}
