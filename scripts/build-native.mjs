#!/usr/bin/env node
// Runs after `npm ci`/`npm install`. Synapse writes its LMDB files with py-lmdb (LMDB 0.9.x, data format v1);
// the lmdb npm package's prebuilt binary is data format v2 and crashes on them. So we build lmdb-js from its own
// vendored v1 sources, and compile LMDB's compact-copy tool from the same sources into native/build/.
// Needs a C/C++ toolchain (g++, make, python3), as any native npm module built from source.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
// lmdb's package.json is not in its exports map; it is always hoisted to the top-level node_modules (npm ci).
const lmdbDir = path.join(root, 'node_modules', 'lmdb');
const v1Src = path.join(lmdbDir, 'dependencies', 'lmdb-data-v1', 'libraries', 'liblmdb');
const outDir = path.join(root, 'native', 'build');

// Argument arrays only; no shell. (execa is ESM-installed by now too, but this script must run with nothing else.)
function run(cmd, args, options) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`synup: ${cmd} ${args.join(' ')} failed (${result.error ? result.error.message : `exit ${result.status ?? result.signal}`}).`);
    console.error('synup needs a C/C++ toolchain to build lmdb-js with LMDB data format v1: apt-get install g++ make python3');
    process.exit(1);
  }
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

const marker = path.join(lmdbDir, 'build', 'Release', 'synup-data-v1');
if (!existsSync(marker)) {
  console.error('synup: building lmdb-js from source with LMDB data format v1 (about 40 s)…');
  const [cmd, pre] = nodeGypCommand();
  // Build against this node's own headers when they are installed next to it (no download: offline machines).
  const nodeDir = path.dirname(path.dirname(process.execPath));
  const local = !process.env.npm_config_nodedir && existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'));
  run(cmd, [...pre, 'rebuild', '--release', ...(local ? [`--nodedir=${nodeDir}`] : [])], { cwd: lmdbDir, env: { ...process.env, LMDB_DATA_V1: 'true' } });
  writeFileSync(marker, 'lmdb-js built by synup with use_data_v1=true\n');
}

// synup-copy.c #includes mdb.c (one translation unit, so it can run LMDB's compacting copy from a read txn begun
// earlier: one snapshot over many envs); only midl.c is compiled beside it. Written to a temp name, then renamed.
mkdirSync(outDir, { recursive: true });
const copyTool = path.join(outDir, 'synup-mdb-copy');
const building = `${copyTool}.${process.pid}.tmp`;
const compiler = process.env.CC ?? 'cc';
run(compiler, [
  '-O2', '-pthread', '-DMDB_USE_ROBUST=1', `-I${v1Src}`,
  path.join(root, 'native', 'synup-copy.c'), path.join(v1Src, 'midl.c'),
  '-o', building,
]);
renameSync(building, copyTool);
console.error(`synup: native helpers ready in ${path.relative(root, outDir)}/`);
