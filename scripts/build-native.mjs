#!/usr/bin/env node
// postinstall. Synapse writes its LMDB files with py-lmdb (LMDB 0.9.x, data format v1); the lmdb npm package's own
// binary is data format v2 and crashes on them. synup therefore owns its binding: lmdb-js's JavaScript loads a
// data-v1 build of lmdb-js's native addon that lives in synup's own directory (src/lmdb/binding.ts points lmdb-js's
// loader there). The lmdb package itself is never rebuilt or written to: it may be shared with other packages.
//
//   1. A prebuilt shipped in prebuilds/<platform>-<arch>/ that loads here and passes the v1 canary: nothing to build.
//   2. Otherwise (or with SYNUP_BUILD_FROM_SOURCE=1): build from lmdb-js's vendored v1 sources, in a private copy
//      under native/build/ (needs g++, make, python3). Without a toolchain this only warns: synup's LMDB commands
//      then refuse with a clear error, and everything else works.
// The compact-copy helper (native/synup-copy.c) follows the same rule.
//
// Maintainers: `node scripts/build-native.mjs --prebuild [--arch=arm64]` rebuilds prebuilds/linux-<arch>/.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const ADDON = 'node.napi.glibc.node';
const HELPER = 'synup-mdb-copy';
const localDir = path.join(root, 'native', 'build');
const localAddonDir = path.join(localDir, 'lmdb-v1');

/** The lmdb package synup's own code resolves (wherever npm put it); its package.json is not in its exports map. */
function lmdbPackage() {
  let dir = path.dirname(createRequire(path.join(root, 'package.json')).resolve('lmdb'));
  while (!existsSync(path.join(dir, 'package.json')) || JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name !== 'lmdb') {
    if (path.dirname(dir) === dir) throw new Error('cannot find the lmdb package');
    dir = path.dirname(dir);
  }
  return { dir, version: JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version };
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${result.error ? result.error.message : `exit ${result.status ?? result.signal}`}`);
}

function nodeGypCommand() {
  if (process.env.npm_config_node_gyp) return [process.execPath, [process.env.npm_config_node_gyp]];
  // Run outside npm: use the node-gyp bundled with the npm that sits next to this node.
  const candidates = [
    process.env.npm_execpath && path.join(path.dirname(path.dirname(process.env.npm_execpath)), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(path.dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  const bundled = candidates.find((file) => existsSync(file));
  return bundled ? [process.execPath, [bundled]] : ['node-gyp', []];
}

/**
 * Loads the addon in `bindingDir` through lmdb-js's own loader in a child process (a wrong binary may crash),
 * writes an env and reads its meta page: magic 0xBEEFC0DE and data format 1 (see src/lmdb/format.ts).
 */
function canary(bindingDir, lmdbDir) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'synup-canary-'));
  const script = `
    const lmdb = require(${JSON.stringify(path.join(lmdbDir, 'dist', 'index.cjs'))});
    const env = lmdb.open({ path: ${JSON.stringify(dir)}, noSubdir: false });
    env.putSync('canary', 1);
    env.close().then(() => {
      const meta = require('node:fs').readFileSync(${JSON.stringify(path.join(dir, 'data.mdb'))}).subarray(16, 24);
      const ok = meta.readUInt32LE(0) === 0xbeefc0de && meta.readUInt32LE(4) === 1;
      console.log(ok ? 'data v1' : 'data v' + meta.readUInt32LE(4));
      process.exit(ok ? 0 : 1);
    });`;
  try {
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, LMDB_PREBUILD: bindingDir }, encoding: 'utf8', timeout: 30_000 });
    const why = (result.stdout.trim() || result.stderr.trim().split('\n').find((line) => /Error|error/.test(line)) || `exit ${result.status ?? result.signal}`).slice(0, 300);
    return { ok: result.status === 0, why };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The helper prints its usage and exits 2 when run without arguments; a binary that cannot run here does not. */
function helperRuns(file) {
  const result = spawnSync(file, [], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 2 && result.stderr.includes('usage: synup-mdb-copy');
}

/** Builds lmdb-js's addon with data v1 (N-API only: one binary for every Node version) into `outFile`. */
function buildAddon(lmdbDir, outFile, { arch } = {}) {
  // A private copy of the sources: node-gyp writes build/ next to binding.gyp, and lmdb's own dir is not ours.
  const staging = mkdtempSync(path.join(localDir, 'lmdb-src-'));
  try {
    for (const entry of ['binding.gyp', 'src', 'dependencies']) cpSync(path.join(lmdbDir, entry), path.join(staging, entry), { recursive: true });
    // binding.gyp asks node for node-addon-api's include dir: resolve it from lmdb, where npm installed it.
    const addonApi = path.dirname(createRequire(path.join(lmdbDir, 'package.json')).resolve('node-addon-api/package.json'));
    cpSync(addonApi, path.join(staging, 'node_modules', 'node-addon-api'), { recursive: true });
    const [cmd, pre] = nodeGypCommand();
    // Build against this node's own headers when they are installed next to it (no download: offline machines).
    const nodeDir = path.dirname(path.dirname(process.execPath));
    const local = !process.env.npm_config_nodedir && existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'));
    const env = { ...process.env, LMDB_DATA_V1: 'true', ENABLE_V8_FUNCTIONS: 'false', ENABLE_FAST_API_CALLS: 'false' };
    if (arch === 'arm64') Object.assign(env, { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' });
    // libstdc++ stays dynamic: linked in statically it needs glibc 2.36 (arc4random); dynamic needs glibc 2.34 and
    // libstdc++ from gcc 11 (GLIBCXX_3.4.29): Debian 12, Ubuntu 22.04, RHEL 9. Older systems build from source.
    const args = ['rebuild', '--release', ...(arch ? [`--arch=${arch}`] : []), ...(local ? [`--nodedir=${nodeDir}`] : [])];
    run(cmd, [...pre, ...args], { cwd: staging, env });
    const built = path.join(staging, 'build', 'Release', 'lmdb.node');
    run(arch === 'arm64' ? 'aarch64-linux-gnu-strip' : 'strip', ['--strip-unneeded', built]);
    mkdirSync(path.dirname(outFile), { recursive: true });
    copyFileSync(built, `${outFile}.${process.pid}.tmp`);
    renameSync(`${outFile}.${process.pid}.tmp`, outFile);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * synup-copy.c #includes mdb.c (one translation unit, so it can run LMDB's compacting copy from a read txn begun
 * earlier: one snapshot over many envs); only midl.c is compiled beside it. `static` (prebuilds) runs on any libc.
 */
function buildHelper(lmdbDir, outFile, { arch, linkStatic = false } = {}) {
  const v1Src = path.join(lmdbDir, 'dependencies', 'lmdb-data-v1', 'libraries', 'liblmdb');
  const compiler = arch === 'arm64' ? 'aarch64-linux-gnu-gcc' : (process.env.CC ?? 'cc');
  mkdirSync(path.dirname(outFile), { recursive: true });
  const building = `${outFile}.${process.pid}.tmp`;
  run(compiler, [
    '-O2', '-pthread', '-DMDB_USE_ROBUST=1', `-I${v1Src}`, ...(linkStatic ? ['-static', '-s'] : []),
    path.join(root, 'native', 'synup-copy.c'), path.join(v1Src, 'midl.c'),
    '-o', building,
  ]);
  renameSync(building, outFile);
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Maintainers: prebuilds/linux-<arch>/ and its manifest (lmdb version, sha256 of each file). */
function prebuild(arch) {
  const lmdb = lmdbPackage();
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  mkdirSync(localDir, { recursive: true });
  buildAddon(lmdb.dir, path.join(dir, ADDON), { arch: arch === os.arch() ? undefined : arch });
  buildHelper(lmdb.dir, path.join(dir, HELPER), { arch: arch === os.arch() ? undefined : arch, linkStatic: true });
  const manifest = {
    lmdb: lmdb.version,
    dataFormat: 1,
    files: { [ADDON]: sha256(path.join(dir, ADDON)), [HELPER]: sha256(path.join(dir, HELPER)) },
    // The helper's own source: a test fails when it changes and the prebuilds were not rebuilt.
    sources: { 'native/synup-copy.c': sha256(path.join(root, 'native', 'synup-copy.c')) },
  };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  if (arch === os.arch()) {
    const check = canary(root, lmdb.dir);
    if (!check.ok || !helperRuns(path.join(dir, HELPER))) throw new Error(`the new prebuild does not pass its checks: ${check.why}`);
  }
  console.error(`synup: prebuilds/linux-${arch}/ for lmdb ${lmdb.version}`);
}

/** A prebuild for this machine that matches the installed lmdb and passes the canary, or why not. */
function usablePrebuild(lmdb) {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${os.arch()}`);
  if (!existsSync(path.join(dir, 'manifest.json'))) return { ok: false, why: `no prebuild for ${process.platform}-${os.arch()}` };
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  if (manifest.lmdb !== lmdb.version) return { ok: false, why: `the prebuild is for lmdb ${manifest.lmdb}, lmdb ${lmdb.version} is installed` };
  const check = canary(root, lmdb.dir);
  return check.ok ? { ok: true, helper: helperRuns(path.join(dir, HELPER)) } : { ok: false, why: `the prebuild does not pass the v1 canary (${check.why})` };
}

function install() {
  const lmdb = lmdbPackage();
  const forced = process.env.SYNUP_BUILD_FROM_SOURCE === '1';
  const prebuilt = forced ? { ok: false, why: 'SYNUP_BUILD_FROM_SOURCE=1' } : usablePrebuild(lmdb);
  // What was built here earlier is preferred by the loaders: remove it when the prebuild now serves, so a stale
  // build (another lmdb version, an older synup-copy.c) never shadows it.
  if (prebuilt.ok) rmSync(localAddonDir, { recursive: true, force: true });
  if (prebuilt.ok && prebuilt.helper) rmSync(path.join(localDir, HELPER), { force: true });
  const needAddon = !prebuilt.ok;
  const needHelper = !prebuilt.ok || !prebuilt.helper;
  if (!needAddon && !needHelper) {
    console.error(`synup: using the prebuilt LMDB data-v1 binding (prebuilds/${process.platform}-${os.arch()}/)`);
    return;
  }
  mkdirSync(localDir, { recursive: true });
  try {
    if (needAddon) {
      console.error(`synup: ${prebuilt.why}; building lmdb-js ${lmdb.version} with LMDB data format v1 from source (about 40 s)…`);
      buildAddon(lmdb.dir, path.join(localAddonDir, 'build', 'Release', 'lmdb.node'));
      const check = canary(localAddonDir, lmdb.dir);
      if (!check.ok) {
        rmSync(localAddonDir, { recursive: true, force: true });
        throw new Error(`the binding built from source does not pass the v1 canary (${check.why})`);
      }
    }
    if (needHelper) buildHelper(lmdb.dir, path.join(localDir, HELPER));
    console.error(`synup: native helpers built in ${path.relative(root, localDir)}/`);
  } catch (error) {
    console.error(`synup: WARNING: ${error.message}`);
    console.error("synup: its LMDB commands (inspect, backup, upgrade…) will refuse until this is fixed: install g++, make and python3, then run `npm rebuild synup` (see README, 'Install')");
  }
}

const archArg = process.argv.find((arg) => arg.startsWith('--arch='))?.slice('--arch='.length);
if (process.argv.includes('--prebuild')) prebuild(archArg ?? os.arch());
else install();
