// The tests' temp dirs (os.tmpdir() in every worker, every synup and sim they start) in one dir per run on a tmpfs
// (/dev/shm) where there is one: the same files, renames and fsync calls, without a virtual disk's fsync latency,
// which made a third of some files' wall time. SYNUP_TEST_TMPDIR=disk keeps the system's temp dir. Removed at the end.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
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
  return () => {
    killLeftovers(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}

/**
 * A process still running with a path under the run's dir on its command line was left by a test that did not stop
 * what it started (a defect): named, so it is fixed, and killed, so it does not outlive the run. (A SIGKILLed sim's
 * drive worker, made to outlive it on purpose, ends here too.)
 */
function killLeftovers(dir: string): void {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    let argv: string;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (pid === process.pid || !argv.includes(`${dir}/`)) continue;
    console.warn(`left running by a test, killed: pid ${pid}: ${argv.trim().slice(0, 300)}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
