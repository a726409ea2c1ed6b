import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { createSimCell } from '../sim/index.js';
import { repoRoot, tempDir } from '../support/helpers.js';

// prebuilds/linux-arm64/ run for real under qemu-user with Debian's arm64 Node (scripts/arm64-sysroot.sh makes the
// sysroot): the addon through lmdb-js's own loader writes LMDB data format v1, and the static helper walks a v1 cell
// with the same digests as the x64 one. Needs qemu-aarch64-static and SYNUP_ARM64_ROOT, which CI machines lack.
const qemu = '/usr/bin/qemu-aarch64-static';
const sysroot = process.env.SYNUP_ARM64_ROOT ?? '';
const ready = existsSync(qemu) && existsSync(path.join(sysroot, 'usr', 'bin', 'node'));
if (!ready) console.log('skipping arm64 prebuild checks: needs qemu-aarch64-static and SYNUP_ARM64_ROOT (scripts/arm64-sysroot.sh)');

const arm64 = (args: string[], env: Record<string, string> = {}) => execa(qemu, ['-L', sysroot, ...args], { env, reject: false, timeout: 120_000 });

describe('the linux-arm64 prebuilds', () => {
  it.skipIf(!ready)('load through lmdb-js and write LMDB data format v1', async () => {
    const dir = tempDir();
    const script = `const lmdb = require(${JSON.stringify(path.join(repoRoot, 'node_modules', 'lmdb', 'dist', 'index.cjs'))});
      const env = lmdb.open({ path: ${JSON.stringify(dir)}, noSubdir: false }); env.putSync('canary', 1);
      env.close().then(() => console.log(process.arch, lmdb.version.versionString));`;
    const run = await arm64([path.join(sysroot, 'usr', 'bin', 'node'), '-e', script], { LMDB_PREBUILD: repoRoot });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^arm64 LMDB 0\.9\.29/);
    const meta = readFileSync(path.join(dir, 'data.mdb')).subarray(16, 24);
    expect([meta.readUInt32LE(0), meta.readUInt32LE(4)]).toEqual([0xbeefc0de, 1]);
  });

  it.skipIf(!ready)('walk a v1 cell with the same digests as the x64 helper', async () => {
    const cell = path.join(tempDir(), 'cortex00');
    await createSimCell(cell, { version: '2.180.0', seed: 3 });
    const envs = [path.join(cell, 'slabs', 'cell.lmdb'), ...readdirSync(path.join(cell, 'layers')).map((iden) => path.join(cell, 'layers', iden, 'layer_v2.lmdb'))];
    const x64 = await execa(path.join(repoRoot, 'prebuilds', 'linux-x64', 'synup-mdb-copy'), ['walk', '-d', ...envs]);
    const onArm = await arm64([path.join(repoRoot, 'prebuilds', 'linux-arm64', 'synup-mdb-copy'), 'walk', '-d', ...envs]);
    expect(onArm.exitCode, onArm.stderr).toBe(0);
    expect(onArm.stdout).toBe(x64.stdout);
    expect(x64.stdout).toMatch(/"digest":"[0-9a-f]{16}"/);
  });
});
