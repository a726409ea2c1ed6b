import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { readMeta } from '../lmdb/format.js';

/**
 * Upper bound of what a compacted copy of the cell needs: each env's used pages (last page + 1, never more than
 * the compacted copy) plus every other regular file. Reads only meta pages and directory entries.
 */
export async function estimateCompactedBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      total += await estimateCompactedBytes(full);
    } else if (entry.isFile()) {
      if (entry.name === 'data.mdb') {
        const meta = await readMeta(full);
        total += (meta.lastPage + 1) * meta.pageSize;
      } else if (entry.name !== 'lock.mdb') {
        total += (await lstat(full)).size;
      }
    }
  }
  return total;
}
