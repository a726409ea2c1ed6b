import { scanCell } from '../lmdb/discover.js';

/**
 * A cheap fingerprint of how far a migrating cell has got: size and mtime of every data.mdb. When it changes, the
 * service is making progress even if its log is quiet (LMDB grows the file and rewrites meta pages on commit). A
 * walk that fails (a dir vanishing under a booting service) says nothing new.
 */
export async function dataFingerprint(dir: string): Promise<string> {
  const tree = await scanCell(dir, { skipDirs: [] }).catch(() => null);
  return tree ? tree.envs.map((e) => `${e.rel}:${e.dataBytes}:${e.mtimeMs}`).sort().join('|') : '';
}
