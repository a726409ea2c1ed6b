// A real small filesystem (tmpfs) for disk-full and read-only cases: it needs root with CAP_SYS_ADMIN, and the tests
// that use it say why they are skipped elsewhere.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

/** Whether a tmpfs mounts here (with `options`, e.g. `ro`): a probe mounted and unmounted at once. */
export async function canMountTmpfs(options = ''): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  const probe = mkdtempSync(path.join(os.tmpdir(), 'synup-mount-probe-'));
  try {
    const mounted = await execa('mount', ['-t', 'tmpfs', '-o', ['size=1m', options].filter(Boolean).join(','), 'tmpfs', probe], { reject: false });
    if (mounted.exitCode !== 0) return false;
    await execa('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
