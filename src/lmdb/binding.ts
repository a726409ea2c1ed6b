import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Lmdb from 'lmdb';
import { SynupError } from '../errors.js';

/**
 * synup owns its LMDB binding. lmdb-js's JavaScript is used as installed (possibly shared with other packages), but
 * its loader is pointed at a data-v1 build of its native addon in synup's own directory (`LMDB_PREBUILD`, read by
 * node-gyp-build-optional-packages): the one scripts/build-native.mjs built from source at install, else the prebuild
 * shipped in prebuilds/<platform>-<arch>/. Every synup module takes lmdb-js from here, never from 'lmdb' directly.
 */

/** synup's package root: the same from src/ and dist/. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The shipped prebuild for this machine (addon, helper, manifest.json). */
export const PREBUILD_DIR = path.join(ROOT, 'prebuilds', `${process.platform}-${os.arch()}`);
/** What the install script built from source here (only when no prebuild served). */
export const LOCAL_BUILD_DIR = path.join(ROOT, 'native', 'build');
const LOCAL_ADDON_DIR = path.join(LOCAL_BUILD_DIR, 'lmdb-v1');

const REBUILD_HINT = 'run `npm rebuild synup` (builds the binding from source; needs g++, make, python3), or install synup on linux-x64/arm64 with glibc 2.34+';

/** The version of the lmdb package this module resolves (its package.json is not in its exports map). */
function installedLmdbVersion(): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve('lmdb'));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'lmdb') return pkg.version ?? '?';
    }
    if (path.dirname(dir) === dir) return '?';
    dir = path.dirname(dir);
  }
}

/** Where the data-v1 addon is, or why there is none to use. */
function bindingDir(): { dir: string } | { problem: string } {
  if (existsSync(path.join(LOCAL_ADDON_DIR, 'build', 'Release', 'lmdb.node'))) return { dir: LOCAL_ADDON_DIR };
  const manifestFile = path.join(PREBUILD_DIR, 'manifest.json');
  if (!existsSync(manifestFile)) return { problem: `no prebuilt binding for ${process.platform}-${os.arch()} and none built at install` };
  const built = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { lmdb: string }).lmdb;
  const installed = installedLmdbVersion();
  if (built !== installed) return { problem: `the prebuilt binding is for lmdb ${built} but lmdb ${installed} is installed` };
  return { dir: ROOT };
}

const located = bindingDir();
// Set for the whole process, so a child node (the test sim, a helper script) that loads lmdb-js gets data v1 too.
if ('dir' in located) process.env.LMDB_PREBUILD = located.dir;

let loaded: typeof Lmdb | undefined;
let failure: string | undefined;
if ('dir' in located) {
  try {
    loaded = await import('lmdb');
  } catch (error) {
    failure = (error as Error).message.split('\n')[0];
  }
} else {
  failure = located.problem;
}

/**
 * lmdb-js with synup's data-v1 addon. Throws a clear error when it cannot be loaded, or when what loaded is not
 * LMDB 0.9.x below 0.9.90 (0.9.90 is mdb.master3, data v2). native.ts's canary then proves data v1 on disk.
 */
export function lmdb(): typeof Lmdb {
  if (!loaded) throw new SynupError('failed', `cannot load synup's LMDB data-v1 binding: ${failure}`, { hint: REBUILD_HINT });
  const version = (loaded as unknown as { version?: { versionString: string; major: number; minor: number; patch: number } }).version;
  if (!version || version.major !== 0 || version.minor !== 9 || version.patch >= 90) {
    throw new SynupError('failed', `the loaded LMDB binding is ${version?.versionString ?? 'of unknown version'}, not LMDB 0.9.x with data format v1; opening Synapse's files with it would crash`, { hint: REBUILD_HINT });
  }
  return loaded;
}
