// The tests' temp dirs (os.tmpdir() in every worker, every synup and sim they start) in one dir per run on a tmpfs
// (/dev/shm) where there is one: the same files, renames and fsync calls, without a virtual disk's fsync latency,
// which made a third of some files' wall time. SYNUP_TEST_TMPDIR=disk keeps the system's temp dir. Removed at the end.
import { chmodSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import path from 'node:path';

const TMPFS_MAGIC = 0x01021994;
const SHM = '/dev/shm';

function onTmpfs(dir: string, minFreeBytes: number): boolean {
  try {
    const fs = statfsSync(dir);
    return fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= minFreeBytes;
  } catch {
    return false;
  }
}

export default function setup(): (() => void) | undefined {
  if (process.env.SYNUP_TEST_TMPDIR === 'disk' || !onTmpfs(SHM, 2 * 1024 ** 3)) return undefined;
  const dir = mkdtempSync(path.join(SHM, 'synup-tests-'));
  // As /tmp: tests run the service (and synup) as uid 999 in dirs under it.
  chmodSync(dir, 0o1777);
  // Read by the workers, which start after global setup.
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
