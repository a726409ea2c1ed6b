// The release tarball (`scripts/pack.mjs`), packed once per test run and shared by the files that install it
// (install.test.ts, ci-examples.test.ts; neither changes it): the first file to ask packs it into the run's dir
// (test/global-setup.ts), the others wait for its result, which says where it is or why packing failed.
import { existsSync, mkdirSync, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { inject } from 'vitest';
import { repoRoot } from './helpers.js';

const PACK_TIMEOUT_MS = 300_000;

type PackResult = { tarball: string } | { error: string };

function unwrap(result: PackResult): string {
  if ('error' in result) throw new Error(`packing the release tarball failed: ${result.error}`);
  return result.tarball;
}

/** The packer's result file, once it is there (fs.watch on the run dir; no polling). */
function waitForResult(file: string): Promise<PackResult> {
  return new Promise((resolve, reject) => {
    const watcher = watch(path.dirname(file));
    const timer = setTimeout(() => finish(() => reject(new Error(`no release tarball after ${PACK_TIMEOUT_MS / 1000} s (${file})`))), PACK_TIMEOUT_MS);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      watcher.close();
      settle();
    };
    const check = () => {
      if (existsSync(file)) finish(() => resolve(JSON.parse(readFileSync(file, 'utf8')) as PackResult));
    };
    watcher.on('change', check);
    watcher.on('error', (error) => finish(() => reject(error)));
    check(); // written before the watcher started
  });
}

export async function releaseTarball(): Promise<string> {
  const runDir = inject('runDir');
  const resultFile = path.join(runDir, 'release-tarball.json');
  try {
    mkdirSync(path.join(runDir, 'release-tarball'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return unwrap(await waitForResult(resultFile)); // another file is packing it
  }
  const outDir = path.join(runDir, 'release-tarball');
  const packed = await execa(process.execPath, [path.join(repoRoot, 'scripts', 'pack.mjs'), '--out', outDir, '--offline', '--no-build'], { cwd: repoRoot, timeout: PACK_TIMEOUT_MS, reject: false });
  const result: PackResult = packed.exitCode === 0 ? { tarball: packed.stdout.trim() } : { error: packed.stderr.trim() || packed.message };
  writeFileSync(`${resultFile}.tmp`, JSON.stringify(result));
  renameSync(`${resultFile}.tmp`, resultFile);
  return unwrap(result);
}
