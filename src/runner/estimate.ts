import path from 'node:path';
import { scanCell } from '../lmdb/discover.js';
import { readMeta } from '../lmdb/format.js';
import type { DowntimeEstimate, UpgradePlan } from '../plan/index.js';
import { latestPassingRehearsal } from './rehearsals.js';

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

/** Measured on these machines (DESIGN.md): compact copy into an fd ≈ 150 MB/s, reading+hashing ≈ 800 MB/s. */
const COPY_BYTES_PER_S = 150e6;
const VERIFY_BYTES_PER_S = 800e6;

/** Downtime from data size; the first boot from the newest passing rehearsal of the same from → to, if any. */
export async function estimateDowntime(cellDir: string, guid: string | null, stateDir: string, { from, to }: UpgradePlan): Promise<DowntimeEstimate> {
  const dataBytes = await estimateCompactedBytes(cellDir);
  const defragSeconds = dataBytes / COPY_BYTES_PER_S + (2 * dataBytes) / VERIFY_BYTES_PER_S;
  const rehearsal = latestPassingRehearsal(stateDir, from, to, guid);
  if (rehearsal?.migrationMs != null) return { dataBytes, defragSeconds, bootSeconds: rehearsal.migrationMs / 1000, basis: 'rehearsal' };
  return { dataBytes, defragSeconds, bootSeconds: null, basis: 'data size' };
}
