import path from 'node:path';
import { scanCell } from '../lmdb/discover.js';
import { readMeta } from '../lmdb/format.js';

/**
 * Upper bound of what a compacted copy of the cell needs: each env's used pages (last page + 1, never more than
 * the compacted copy) plus every other regular file (tmp/ and backups/ included). Reads only meta pages and
 * directory entries.
 */
export async function estimateCompactedBytes(dir: string): Promise<number> {
  const tree = await scanCell(dir, { skipDirs: [] });
  const envBytes = await Promise.all(tree.envs.map(async (env) => {
    const meta = await readMeta(path.join(env.dir, 'data.mdb'));
    return (meta.lastPage + 1) * meta.pageSize;
  }));
  return [...envBytes, ...tree.files.map((f) => f.size)].reduce((sum, n) => sum + n, 0);
}
