import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { satisfies } from 'semver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCell } from '../support/fixtures/cell.js';
import { repoRoot, synup } from '../support/helpers.js';

// The release tarball installed as users install it, from one `npm run pack`: (a) as a dependency of a fresh project,
// (b) globally into a prefix, built from source (the fallback when no prebuild serves), (c) with --ignore-scripts
// and no compiler on PATH (the prebuild). All offline: the tarball bundles its dependencies.

const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js')
  ? process.env.npm_execpath
  : path.join(path.dirname(path.dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'synup-install-'));
/** A PATH with node and nothing else: no cc, g++, make or python3. */
const bareBin = path.join(work, 'bare-bin');
let tarball: string;
let cellDir: string;
let reference: { envs: string[]; entries: number };

const npm = (args: string[], options: { cwd: string; env?: Record<string, string> }) =>
  execa(process.execPath, [npmCli, '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...args], {
    cwd: options.cwd,
    env: options.env,
    extendEnv: !options.env?.PATH,
    stdin: 'ignore',
    timeout: 300_000,
  });

function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return total;
}

beforeAll(async () => {
  const packed = await execa(process.execPath, [path.join(repoRoot, 'scripts', 'pack.mjs'), '--out', work, '--offline', '--no-build'], { cwd: repoRoot, timeout: 300_000 });
  tarball = packed.stdout.trim();
  mkdirSync(bareBin);
  symlinkSync(process.execPath, path.join(bareBin, 'node'));
  cellDir = (await buildCell(path.join(work, 'cell'), { entries: 50, layers: 1, extras: false })).dir;
  const run = await synup(['--json', 'inspect', cellDir]);
  expect(run.exitCode).toBe(0);
  const report = JSON.parse(run.stdout);
  reference = { envs: report.envs.map((e: { path: string }) => e.path).sort(), entries: report.totals.entries };
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the installed CLI: --version, a plan from the built-in changelog, inspect of a v1 cell. */
async function checkInstalled(bin: string, env?: Record<string, string>) {
  const run = (args: string[]) => execa(bin, args, { reject: false, env: { NO_COLOR: '1', XDG_STATE_HOME: path.join(work, 'state'), ...env }, extendEnv: !env?.PATH, stdin: 'ignore' });
  const version = await run(['--version']);
  expect(version.exitCode, version.stderr).toBe(0);
  expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
  const plan = await run(['plan', '--from', '2.240.0', '--to', '2.250.0', '--json']);
  expect(plan.exitCode, plan.stderr).toBe(0);
  expect(JSON.parse(plan.stdout)).toMatchObject({ changelog: "built-in snapshot of Synapse's CHANGELOG.rst", changelogNewest: { version: '2.250.0' } });
  const inspect = await run(['--json', 'inspect', cellDir]);
  expect(inspect.exitCode, inspect.stderr).toBe(0);
  const report = JSON.parse(inspect.stdout);
  expect({ envs: report.envs.map((e: { path: string }) => e.path).sort(), entries: report.totals.entries }).toEqual(reference);
}

const measure = (label: string, ms: number, nodeModules: string) =>
  console.log(`${label}: installed in ${(ms / 1000).toFixed(1)} s, node_modules ${(duBytes(nodeModules) / 2 ** 20).toFixed(1)} MiB`);

describe('the release tarball', () => {
  it('holds what an install needs and nothing from the packer’s machine', async () => {
    const { stdout } = await execa('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').map((f) => f.replace(/^package\//, ''));
    console.log(`tarball: ${path.basename(tarball)} ${(statSync(tarball).size / 2 ** 20).toFixed(1)} MiB, ${files.length} files`);
    for (const needed of ['LICENSE', 'README.md', 'changelogs/NOTICE', 'changelogs/synapse-CHANGELOG.rst', 'bin/synup.js', 'native/synup-copy.c', 'prebuilds/linux-x64/manifest.json', 'prebuilds/linux-arm64/manifest.json', 'node_modules/lmdb/binding.gyp']) {
      expect(files).toContain(needed);
    }
    expect(files.filter((f) => /^(dist\/.*\.map|src\/|test\/|native\/build\/|node_modules\/@lmdb\/|node_modules\/msgpackr-extract|node_modules\/selfsigned\/|scripts\/demo)/.test(f))).toEqual([]);
    const pkg = JSON.parse((await execa('tar', ['-xzOf', tarball, 'package/package.json'])).stdout);
    expect(pkg).toMatchObject({ license: 'Apache-2.0', scripts: { postinstall: 'node scripts/build-native.mjs' } });
    expect(Object.keys(pkg.scripts)).toEqual(['postinstall']);
    expect(pkg.repository.url).toMatch(/^git\+https:\/\//);
    expect(pkg.dependencies.selfsigned).toBeUndefined();
    for (const node of ['20.19.0', '22.12.0', '24.0.0']) expect(satisfies(node, pkg.engines.node), `Node ${node}`).toBe(true);
    // The only native binaries are synup's own prebuilds (checked against their manifest below).
    expect(files.filter((f) => /\.node$/.test(f)).sort()).toEqual(['prebuilds/linux-arm64/node.napi.glibc.node', 'prebuilds/linux-x64/node.napi.glibc.node']);
    expect(pkg.bundleDependencies).toEqual(Object.keys(pkg.dependencies));
    // The bundled lmdb never compiles its own (data v2) addon at install.
    const lmdbPkg = JSON.parse((await execa('tar', ['-xzOf', tarball, 'package/node_modules/lmdb/package.json'])).stdout);
    expect(lmdbPkg.scripts.install).toBeUndefined();
    expect(lmdbPkg.gypfile).toBe(false);
  });

  it('ships prebuilds whose files match their manifest', () => {
    for (const arch of ['linux-x64', 'linux-arm64']) {
      const dir = path.join(repoRoot, 'prebuilds', arch);
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
      expect(manifest.lmdb).toBe(JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).dependencies.lmdb);
      for (const [file, sha] of Object.entries(manifest.files)) expect(createHash('sha256').update(readFileSync(path.join(dir, file))).digest('hex'), `${arch}/${file}`).toBe(sha);
      // Built from today's helper source, else: node scripts/build-native.mjs --prebuild [--arch=arm64]
      for (const [file, sha] of Object.entries(manifest.sources)) expect(createHash('sha256').update(readFileSync(path.join(repoRoot, file))).digest('hex'), `${arch} from ${file}`).toBe(sha);
    }
  });

  it.skipIf(process.platform !== 'linux' || os.arch() !== 'x64')('(a) installs as a dependency of a fresh project, offline, and runs from node_modules/.bin', async () => {
    const project = path.join(work, 'project');
    mkdirSync(project);
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'ops', version: '1.0.0', private: true }));
    const started = Date.now();
    await npm(['install', tarball], { cwd: project });
    measure('(a) dependency', Date.now() - started, path.join(project, 'node_modules'));
    expect(readdirSync(path.join(project, 'node_modules')).filter((name) => !name.startsWith('.'))).toEqual(['synup']);
    // The bundled lmdb is synup's own and stays as shipped: no binary was built into it.
    expect(existsSync(path.join(project, 'node_modules', 'synup', 'node_modules', 'lmdb', 'build'))).toBe(false);
    await checkInstalled(path.join(project, 'node_modules', '.bin', 'synup'));
    const npx = await npm(['exec', '--', 'synup', '--version'], { cwd: project });
    expect(npx.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
  });

  it.skipIf(process.platform !== 'linux')('(b) installs globally into a prefix, building the binding from source when asked', async () => {
    const prefix = path.join(work, 'prefix');
    const started = Date.now();
    await npm(['install', '--global', '--prefix', prefix, tarball], { cwd: work, env: { SYNUP_BUILD_FROM_SOURCE: '1' } });
    const installed = path.join(prefix, 'lib', 'node_modules', 'synup');
    measure('(b) global, built from source', Date.now() - started, path.join(installed, 'node_modules'));
    expect(existsSync(path.join(installed, 'native', 'build', 'lmdb-v1', 'build', 'Release', 'lmdb.node'))).toBe(true);
    expect(existsSync(path.join(installed, 'native', 'build', 'synup-mdb-copy'))).toBe(true);
    expect(existsSync(path.join(installed, 'node_modules', 'lmdb', 'build'))).toBe(false);
    await checkInstalled(path.join(prefix, 'bin', 'synup'));
   }, 180_000); // compiles lmdb-js and the helper: a minute or more on 2 busy cores

  it.skipIf(process.platform !== 'linux' || os.arch() !== 'x64')('(c) installs with --ignore-scripts and no compiler on PATH, using the prebuild', async () => {
    const prefix = path.join(work, 'prefix-bare');
    const env = { PATH: bareBin, HOME: os.homedir() };
    for (const tool of ['cc', 'g++', 'make', 'python3']) expect((await execa('/bin/sh', ['-c', `command -v ${tool}`], { env, extendEnv: false, reject: false })).exitCode, tool).not.toBe(0);
    const started = Date.now();
    await npm(['install', '--global', '--ignore-scripts', '--prefix', prefix, tarball], { cwd: work, env });
    const installed = path.join(prefix, 'lib', 'node_modules', 'synup');
    measure('(c) global, --ignore-scripts', Date.now() - started, path.join(installed, 'node_modules'));
    expect(existsSync(path.join(installed, 'native', 'build'))).toBe(false);
    await checkInstalled(path.join(prefix, 'bin', 'synup'), env);

    // The install script without a compiler: a warning, exit 0, nothing half-built; the prebuild still serves.
    const script = await execa(process.execPath, [path.join(installed, 'scripts', 'build-native.mjs')], { env: { ...env, SYNUP_BUILD_FROM_SOURCE: '1' }, extendEnv: false, reject: false });
    expect(script.exitCode).toBe(0);
    expect(script.stderr).toMatch(/^synup: WARNING: .*\n.*install g\+\+, make and python3, then run `npm rebuild synup`/m);
    expect(existsSync(path.join(installed, 'native', 'build', 'lmdb-v1'))).toBe(false);
    await checkInstalled(path.join(prefix, 'bin', 'synup'), env);

    // A prebuild for another lmdb than the installed one is refused before lmdb-js opens the cell (SYNUP_NO_NATIVE:
    // inspect without the C helper, which is a program of its own and serves regardless).
    const manifestFile = path.join(installed, 'prebuilds', 'linux-x64', 'manifest.json');
    const manifest = readFileSync(manifestFile, 'utf8');
    writeFileSync(manifestFile, manifest.replace(/"lmdb": "[^"]+"/, '"lmdb": "0.0.1"'));
    const before = readdirSync(cellDir, { recursive: true }).sort();
    const refused = await execa(path.join(prefix, 'bin', 'synup'), ['inspect', cellDir], { env: { ...env, SYNUP_NO_NATIVE: '1' }, extendEnv: false, reject: false });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/cannot load synup's LMDB data-v1 binding: the prebuilt binding is for lmdb 0\.0\.1 but lmdb \d+\.\d+\.\d+ is installed/);
    expect(readdirSync(cellDir, { recursive: true }).sort()).toEqual(before);
    // Commands that need no LMDB still work.
    expect((await execa(path.join(prefix, 'bin', 'synup'), ['plan', '--from', '2.240.0', '--to', '2.250.0'], { env: { ...env, XDG_STATE_HOME: path.join(work, 'state') }, extendEnv: false, reject: false })).exitCode).toBe(0);
    writeFileSync(manifestFile, manifest);
  });
});
