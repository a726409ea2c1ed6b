#!/usr/bin/env node
// `npm run pack [-- --out DIR] [--offline] [--no-build]`: the release tarball, the one file an operator carries into an air-gapped site.
// Every runtime dependency is bundled (nothing is fetched at install: `npm install -g ./synup-X.tgz --offline`),
// exactly as package-lock.json pins it, and optional dependencies are left out: lmdb's 15 MB data-v2 prebuilt
// (@lmdb/*), which synup never loads (it ships its own data-v1 binding in prebuilds/), and msgpackr-extract.
// A plain `npm pack` in the repo would bundle whatever node_modules holds (dev installs include @lmdb/*): use this.
// The bundled lmdb is synup's private copy (bundled packages are never hoisted or shared), used for its JavaScript
// only: its install script is dropped, or it would compile a data-v2 addon nobody loads (30 s, and fail without g++).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const outIndex = process.argv.indexOf('--out');
const outDir = path.resolve(outIndex > 0 ? process.argv[outIndex + 1] : root);
// --offline: the npm cache only (tests; CI has just run `npm ci`, so the cache holds every locked package).
const cacheMode = process.argv.includes('--offline') ? '--offline' : '--prefer-offline';
const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ['npm', []];

function run(cmd, args, cwd) {
  const result = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    console.error(`pack: ${path.basename(cmd)} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`})`);
    process.exit(1);
  }
  return result.stdout;
}

function editJson(file, edit) {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  edit(json);
  writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
}

// --no-build: dist/ is already built (tests: rebuilding it under other running tests would race with them).
if (!process.argv.includes('--no-build')) run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], root);
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const stage = mkdtempSync(path.join(os.tmpdir(), 'synup-pack-'));
try {
  for (const entry of ['package.json', 'package-lock.json', 'LICENSE', 'README.md', ...pkg.files.filter((f) => !f.startsWith('!'))]) {
    cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true });
  }
  run(npm[0], [...npm[1], 'ci', '--omit=dev', '--omit=optional', '--ignore-scripts', cacheMode, '--no-audit', '--no-fund'], stage);
  editJson(path.join(stage, 'node_modules', 'lmdb', 'package.json'), (lmdb) => {
    delete lmdb.scripts.install;
    lmdb.gypfile = false; // else npm adds `node-gyp rebuild` as its install script
  });
  // Only the install step matters to users: prepare (tsc) and the test scripts need the repo. Bundled
  // dependencies as a list of names (yarn 1 fails on `true`).
  editJson(path.join(stage, 'package.json'), (synup) => {
    synup.scripts = { postinstall: synup.scripts.postinstall };
    synup.bundleDependencies = Object.keys(synup.dependencies);
  });
  mkdirSync(outDir, { recursive: true });
  const [packed] = JSON.parse(run(npm[0], [...npm[1], 'pack', '--ignore-scripts', '--json', '--pack-destination', outDir], stage));
  console.error(`pack: ${path.join(outDir, packed.filename)}: ${(packed.size / 2 ** 20).toFixed(1)} MiB, ${packed.entryCount} files, ${packed.bundled.length} bundled packages`);
  console.log(path.join(outDir, packed.filename));
} finally {
  rmSync(stage, { recursive: true, force: true });
}
