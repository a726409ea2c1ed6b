// Issue 21, the cell's own safety: one run per cell whatever config reaches it (item 3), a start that notices its
// process exited (5), reasons that are said (11), no descriptor of synup's own files in the service (16). Through the
// CLI on real sim cells served by the process adapter; each test failed on the code before its fix.
import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, symlinkSync, mkdirSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, writeSimServiceConfig, type Harness } from '../support/upgrade-harness.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { synupBin, tempDir } from '../support/helpers.js';
import { budget } from '../support/budget.js';
import { canMountTmpfs } from '../support/tmpfs.js';
import { isAlive } from '../../src/proc.js';
import { findHolders } from '../../src/lmdb/holders.js';
import { SIM_CHANGELOG } from '../support/upgrade-harness.js';

let harness: Harness | undefined;
const mounts: string[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup().catch(() => undefined);
  for (const mnt of mounts.splice(0)) await execa('umount', [mnt], { reject: false });
});

const mountable = await canMountTmpfs();
if (!mountable) console.warn('skipping the full-filesystem tests: mounting a small tmpfs needs root with CAP_SYS_ADMIN');

async function mountTmpfs(dir: string, size: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.unshift(dir);
}

/** Fills a filesystem to the last block (dd stops at ENOSPC). */
async function fill(dir: string): Promise<void> {
  await execa('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4k'], { reject: false });
}

const pidOf = (stateDir: string) => (JSON.parse(readFileSync(path.join(stateDir, 'cortex00.pid'), 'utf8')) as { pid: number }).pid;

/** Where each descriptor of `pid` points (fd number → readlink). */
function descriptors(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed meanwhile
    }
  }
  return fds;
}

/** A second synup.yaml for the same cell: its own state dir, the cell reached through `cellPath`. */
function secondConfig(h: Harness, name: string, cellPath: string): string {
  const dir = path.join(h.work, name);
  mkdirSync(dir);
  const own = readFileSync(path.join(h.work, 'synup.yaml'), 'utf8')
    .replace('cell: {name: cortex00, dir: ./cortex00}', `cell: {name: cortex00, dir: ${JSON.stringify(cellPath)}}`)
    .replace('backup: {dir: ./backups', `backup: {dir: ${JSON.stringify(h.backupsDir)}`);
  writeFileSync(path.join(dir, 'synup.yaml'), own);
  return dir;
}

const runIn = (cwd: string, args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [synupBin, ...args], { cwd, env: { NO_COLOR: '1', CI: 'true', ...env }, reject: false, stdin: 'ignore', timeout: 90_000 });

describe('item 3: one run per cell, whatever config, state dir, symlink or bind mount reaches it', () => {
  it('a second config (own state dir, the cell through a symlink) is refused while the first upgrade runs; the first finishes', async () => {
    harness = await startHarness({ version: '2.180.0' });
    symlinkSync(harness.cellDir, path.join(harness.work, 'link00'));
    const other = secondConfig(harness, 'b', path.join(harness.work, 'link00'));
    // A long first boot (6 s of migrations) leaves time to try the second config during wait-migrations.
    const first = runIn(harness.work, ['upgrade', '--to', '2.181.0', '-y'], { SYN_SIM_MIGRATION_MS: '6000' });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      first.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/\[upgrade\/wait-migrations\] running/.test(seen)) resolve();
      });
      void first.then(() => reject(new Error(`the first upgrade ended before wait-migrations: ${seen}`)));
    });
    const stop = await runIn(other, ['stop']);
    expect(stop.stderr).toMatch(/locked by synup upgrade .*run /);
    expect(stop.exitCode).toBe(3);
    const upgrade = await runIn(other, ['upgrade', '--to', '2.182.0', '-y']);
    expect(upgrade.stderr).toMatch(/locked by synup upgrade/);
    expect(upgrade.exitCode).toBe(3);
    const done = await first;
    expect(done.exitCode, done.stderr).toBe(0);
    expect(await harness.version()).toBe('2.181.0');
  });

  it('a run killed mid-defrag leaves the cell locked for every config (symlink, bind mount) until its own config resumes it', async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    const killed = await harness.run(['upgrade', '--to', '2.181.0', '-y'], { SYNUP_CRASH_AT: 'cold-defrag:copied' });
    expect(killed.signal).toBe('SIGKILL');
    const before = harness.siblings();
    symlinkSync(harness.cellDir, path.join(harness.work, 'link00'));
    const viaLink = secondConfig(harness, 'b', path.join(harness.work, 'link00'));
    const refused = await runIn(viaLink, ['upgrade', '--to', '2.181.0', '-y']);
    expect(refused.stderr).toMatch(/stale lock on .*cortex00.*synup upgrade pid \d+ \(run [\w-]+, state dir .*\/state\)/);
    expect(refused.exitCode).toBe(3);
    expect((await runIn(viaLink, ['start'])).exitCode).toBe(3);
    if (process.getuid?.() === 0) {
      const bind = path.join(tempDir('synup-bind-'), 'view');
      mkdirSync(bind);
      const mounted = await execa('mount', ['--bind', harness.work, bind], { reject: false });
      if (mounted.exitCode === 0) {
        mounts.push(bind);
        const viaBind = secondConfig(harness, 'c', path.join(bind, 'cortex00'));
        const start = await runIn(viaBind, ['start']);
        expect(start.stderr).toMatch(/stale lock on/);
        expect(start.exitCode).toBe(3);
      }
    }
    expect(harness.siblings()).toEqual(before);
    const resumed = await harness.run(['resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(await harness.version()).toBe('2.181.0');
  });

  // 2.181.0's "start" launches the cell in a session of its own, waits until it listens, and then exits 0 (the pid synup
  // started is gone: wait-migrations sees it) or stays (confirm sees that what serves is not it); either way what
  // serves the cell is something synup did not start (as when another synup's instance runs), and the rollback's stop
  // must stop it too, not only the launcher.
  it.each([
    { launcher: 'exits', refusal: /pid \d+ that synup started \(2\.181\.0\) exited with status 0; cell\.guid is held by pid \d+ \(node, lock on .*cell\.guid\), which synup did not start/ },
    { launcher: 'stays', refusal: /\[upgrade\/confirm\] failed .*pid \d+ that synup started runs, but cell\.guid is held by pid \d+ \(node, lock on .*cell\.guid\), which synup did not start/ },
  ])('confirm checks that the process synup started holds cell.guid: a launcher that detaches the cell and $launcher is rolled back', async ({ launcher, refusal }) => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    writeFileSync(path.join(harness.work, 'launch-2.180.0.mjs'), `process.argv.splice(1, 1, ${JSON.stringify(SIM_CELL_JS)});\nawait import(${JSON.stringify(SIM_CELL_JS)});\n`);
    writeFileSync(path.join(harness.work, 'launch-2.181.0.mjs'), [
      "import { spawn } from 'node:child_process';",
      "import { readFileSync, readlinkSync, statSync } from 'node:fs';",
      "const log = readlinkSync('/proc/self/fd/1');",
      'const from = statSync(log).size;',
      `spawn(process.execPath, [${JSON.stringify(SIM_CELL_JS)}, ...process.argv.slice(2)], { detached: true, stdio: ['ignore', 1, 2] }).unref();`,
      `const timer = setInterval(() => { if (readFileSync(log, 'utf8').slice(from).includes('https listening')) { clearInterval(timer); ${launcher === 'exits' ? 'process.exit(0)' : 'setInterval(() => {}, 60_000)'}; } }, 50);`,
      '',
    ].join('\n'));
    const yaml = path.join(harness.work, 'synup.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(JSON.stringify(SIM_CELL_JS), JSON.stringify(path.join(harness.work, 'launch-{version}.mjs'))));
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(result.stderr).toMatch(refusal);
    expect(result.exitCode, result.stderr).toBe(4);
    expect(await harness.version()).toBe('2.180.0');
    const status = JSON.parse((await harness.run(['status', '--json'])).stdout) as { running: boolean; detail: string };
    expect(status.running).toBe(true);
    expect(status.detail).toMatch(/started 2\.180\.0/);
  });
});

describe('item 3: what answers is what synup started (module)', () => {
  it('confirm\'s check: the instance synup started runs, but another process holds cell.guid', async () => {
    const work = tempDir('synup-holder-');
    const cellDir = path.join(work, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 20 });
    const port = await freePort();
    writeFileSync(path.join(work, 'synup.yaml'), ['cell: {name: cortex00, dir: ./cortex00}', 'state: {dir: ./state}', 'service: {adapter: process, process: {command: [/bin/sleep, "60"]}}', ''].join('\n'));
    const { loadConfig } = await import('../../src/config/load.js');
    const { createAdapter } = await import('../../src/service/index.js');
    const adapter = createAdapter(loadConfig({ cwd: work }).config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
    await adapter.start('2.180.0'); // synup's instance: holds nothing
    const sleeper = pidOf(path.join(work, 'state'));
    cleanups.push(async () => {
      process.kill(-sleeper, 'SIGKILL');
    });
    expect(await adapter.startedInstanceProblem!('holder')).toBeNull(); // nothing holds the cell yet: not an impostor
    const log = path.join(work, 'other.log');
    const fd = openSync(log, 'a');
    const other = spawn(process.execPath, [SIM_CELL_JS, cellDir, '--version', '2.180.0', '--port', String(port)], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    cleanups.push(async () => {
      process.kill(-other.pid!, 'SIGKILL');
    });
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (readFileSync(log, 'utf8').includes('https listening')) resolve(void clearInterval(check));
      }, 50);
    });
    expect(await adapter.startedInstanceProblem!('exited')).toBeNull();
    expect(await adapter.startedInstanceProblem!('holder')).toMatch(new RegExp(`^pid ${sleeper} that synup started runs, but cell\\.guid is held by pid ${other.pid} \\(node, lock on .*cell\\.guid\\), which synup did not start$`));
  });
});

/** health.startTimeout of the item 5 tests: 30 s on an idle machine, longer under load (budget), so "at once" is well under it. */
const START_TIMEOUT_S = Math.max(30, Math.round(budget(15_000) / 1000));

describe('item 5: start and the rollback notice at once that the process exited, and say why', () => {
  it('synup start of a version that dies on boot fails in seconds with its last line, not after health.startTimeout (30 s)', async () => {
    const work = tempDir('synup-start-dies-');
    const cellDir = path.join(work, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 50 });
    writeSimServiceConfig(work, { port: await freePort(), startTimeout: `${START_TIMEOUT_S}s` });
    const began = Date.now();
    const result = await runIn(work, ['start'], { SYN_SIM_FAULT: 'crash-on-boot' });
    const tookMs = Date.now() - began;
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/exited .*status 1.*synapse\.exc\.SynErr: simulated crash on boot/);
    expect(tookMs).toBeLessThan((START_TIMEOUT_S * 1000) / 2); // idle: ~3 s
  });

  it("the rollback's restart of the old version that dies on boot fails at once with its last line", async () => {
    harness = await startHarness({ version: '2.180.0', startTimeout: `${START_TIMEOUT_S}s`, processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    const began = Date.now();
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y'], { SYN_SIM_FAULT: 'crash-on-boot' });
    const tookMs = Date.now() - began;
    expect(result.stderr).toMatch(/rollback failed at stop: .*2\.180\.0.*exited .*synapse\.exc\.SynErr: simulated crash on boot/);
    expect(result.exitCode).toBe(1);
    expect(tookMs).toBeLessThan((START_TIMEOUT_S * 1000) / 2); // idle: ~6 s for the whole upgrade and rollback
  });
});

describe('item 11: reasons that are said', () => {
  it('a new version that exits 2 (its install is missing) is reported with what it wrote', async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    writeFileSync(path.join(harness.work, 'launch-2.180.0.mjs'), `process.argv.splice(1, 1, ${JSON.stringify(SIM_CELL_JS)});\nawait import(${JSON.stringify(SIM_CELL_JS)});\n`);
    writeFileSync(path.join(harness.work, 'launch-2.181.0.mjs'), "process.stderr.write('run-cortex.sh: /opt/synapse-2.181.0 has no synapse/ package\\n');\nprocess.exit(2);\n");
    const yaml = path.join(harness.work, 'synup.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(JSON.stringify(SIM_CELL_JS), JSON.stringify(path.join(harness.work, 'launch-{version}.mjs'))));
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/exited with status 2: run-cortex\.sh: \/opt\/synapse-2\.181\.0 has no synapse\/ package/);
  });
});

/** Both meta pages of an LMDB env point the main db at a page past the end: every read of a named db fails (MDB_PAGE_NOTFOUND). */
function damageJournal(stateDir: string): void {
  const file = path.join(stateDir, 'journal.lmdb', 'data.mdb');
  const fd = openSync(file, 'r+');
  try {
    const head = Buffer.alloc(64);
    readSync(fd, head, 0, 64, 0);
    const pageSize = head.readUInt32LE(40); // md_pad of the FREE db record: the page size
    const root = Buffer.alloc(8);
    root.writeBigUInt64LE(0xfffff0n);
    for (const meta of [0, pageSize]) writeSync(fd, root, 0, 8, meta + 128); // MAIN db record (at 88) + md_root (40)
  } finally {
    closeSync(fd);
  }
}

describe('item 11: a damaged journal, a signal before the run', () => {
  it('a damaged journal is named with what to do (not a bare MDB_PAGE_NOTFOUND); resume touches nothing', async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    const killed = await harness.run(['upgrade', '--to', '2.181.0', '-y'], { SYNUP_CRASH_AT: 'probes-off:after' });
    expect(killed.signal).toBe('SIGKILL');
    const pid = pidOf(harness.stateDir);
    damageJournal(harness.stateDir);
    for (const args of [['resume', '-y'], ['history'], ['upgrade', '--to', '2.181.0', '-y', '--force']]) {
      const result = await harness.run(args);
      expect(result.stderr, args.join(' ')).toMatch(/synup: cannot (open|read|write to) synup's journal .*\/state\/journal\.lmdb: .*MDB_PAGE_NOTFOUND/);
      expect(result.stderr).toMatch(/mv .*journal\.lmdb .*journal\.lmdb\.damaged/);
      expect(result.exitCode, args.join(' ')).toBe(1);
    }
    expect(pidOf(harness.stateDir)).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    expect(await harness.version()).toBe('2.180.0');
  });

  it('SIGTERM before the upgrade begins (while the changelog loads) is said and exits 143, nothing changed', async () => {
    harness = await startHarness({ version: '2.180.0' });
    const pid = pidOf(harness.stateDir);
    let asked: () => void = () => undefined;
    const requested = new Promise<void>((resolve) => (asked = resolve));
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => {
      held.push(res); // never answered: synup waits for its changelog
      asked();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/CHANGELOG.rst`;
      const upgrade = runIn(harness.work, ['upgrade', '--to', '2.181.0', '-y', '--changelog', url]);
      await requested;
      upgrade.kill('SIGTERM');
      const result = await upgrade;
      expect(result.signal).toBeUndefined();
      expect(result.stderr).toMatch(/received SIGTERM/);
      expect(result.stderr).toMatch(/synup: interrupted by SIGTERM before the upgrade began: nothing was changed/);
      expect(result.exitCode).toBe(143);
    } finally {
      for (const res of held) res.destroy();
      server.close();
    }
    expect(pidOf(harness.stateDir)).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    expect(readdirSync(harness.work).filter((f) => f.includes('synup-lock'))).toEqual([]);
  });
});

describe.skipIf(!mountable)('items 11 and 18: a full filesystem (a real tmpfs)', () => {
  it("ENOSPC writing the pid file names the file, and the instance just started is stopped again (not left running untracked)", async () => {
    const work = tempDir('synup-enospc-');
    const cellDir = path.join(work, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 50 });
    writeSimServiceConfig(work, { port: await freePort(), startTimeout: '20s', extraYaml: '' });
    const state = path.join(work, 'state');
    await mountTmpfs(state, '256k');
    const yaml = path.join(work, 'synup.yaml');
    // The log elsewhere: only the pid file is on the full filesystem.
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace("process: {command:", "process: {logFile: ./cortex00.log, command:"));
    cleanups.push(async () => {
      for (const h of await findHolders(cellDir)) process.kill(h.pid, 'SIGKILL');
    });
    await fill(state);
    const result = await runIn(work, ['start']);
    expect(result.stderr).toMatch(/cannot record cortex00's pid in .*\/state\/cortex00\.pid: ENOSPC; the 2\.180\.0 synup had just started \(pid \d+\) was stopped again/);
    expect(result.exitCode).toBe(1);
    expect(await findHolders(cellDir)).toEqual([]);
  });

  it('a rollback that leaves the filesystem nearly full says so, and how much prune would free', async () => {
    const work = tempDir('synup-fullfs-');
    const mnt = path.join(work, 'mnt');
    await mountTmpfs(mnt, '64m');
    const cellDir = path.join(mnt, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 3000 });
    writeFileSync(path.join(work, 'synup.yaml'), [
      `cell: {dir: ${JSON.stringify(cellDir)}}`,
      `changelog: ${JSON.stringify(SIM_CHANGELOG)}`,
      'state: {dir: ./state}',
      'backup: {dir: ./backups, maxAge: 1h}',
      `service: {stopTimeout: 5s, process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}'], env: {SYN_SIM_MIGRATION_MS: '300'}}}`,
      `health: {port: ${await freePort()}, startTimeout: 15s}`,
      '',
    ].join('\n'));
    const { loadConfig } = await import('../../src/config/load.js');
    const { createAdapter } = await import('../../src/service/index.js');
    const adapter = createAdapter(loadConfig({ cwd: work }).config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
    await adapter.start('2.180.0');
    cleanups.push(async () => void (await adapter.stop({ timeoutMs: 5000 })));
    expect((await runIn(work, ['backup', cellDir])).exitCode).toBe(0);
    // Room for the compacted copy and little more: the failed data kept by the rollback leaves it nearly full.
    const { stdout } = await execa('df', ['--output=used', '-B1', mnt]);
    const used = Number(stdout.split('\n')[1]);
    await execa('mount', ['-o', `remount,size=${Math.ceil((used * 1.6) / 4096) * 4096}`, mnt]);
    const result = await runIn(work, ['upgrade', '--to', '2.181.0', '-y', '--ignore-preflight', 'free-space'], { SYN_SIM_FAULT: 'die-mid-migration@2.181.0' });
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/kept for diagnosis in .*cortex00\.synup-failed-[\w-]+ \([\d.]+ [KM]iB on disk; `synup prune --older-than 0s` removes it\)/);
    const warning = /WARNING: the filesystem holding .*cortex00 is (\d+)% full \(([\d.]+ [KM]?i?B) free\) with what this run kept: `synup prune --older-than 0s` would free ([\d.]+) ([KM])iB/.exec(result.stderr);
    expect(warning, result.stderr).not.toBeNull();
    const avail = async () => Number((await execa('df', ['--output=avail', '-B1', mnt])).stdout.split('\n')[1]);
    const before = await avail();
    const pruned = await runIn(work, ['prune', '--older-than', '0s']);
    expect(pruned.exitCode, pruned.stderr).toBe(0);
    const freed = (await avail()) - before;
    const said = Number(warning![3]) * (warning![4] === 'M' ? 1024 * 1024 : 1024);
    expect(Math.abs(freed - said) / said).toBeLessThan(0.1);
  });
});

describe('item 16: the service inherits no descriptor of synup', () => {
  it("a service started by upgrade holds no descriptor of synup's journal or state dir, only what it opened and its log", async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(result.exitCode, result.stderr).toBe(0);
    const pid = pidOf(harness.stateDir);
    expect(isAlive(pid)).toBe(true);
    const log = path.join(harness.stateDir, 'cortex00.log');
    const intoState = [...descriptors(pid)].filter(([, target]) => target.startsWith(harness!.stateDir + '/') && target !== log);
    expect(intoState).toEqual([]);
  });

  it('a process the adapter starts gets stdin, its log and nothing else: no LMDB file, no pipe or socket of synup', async () => {
    const work = tempDir('synup-fds-');
    const stateDir = path.join(work, 'state');
    const { Journal } = await import('../../src/runner/journal.js');
    const journal = Journal.open(stateDir); // its data.mdb is opened by LMDB without O_CLOEXEC
    try {
      writeFileSync(path.join(work, 'synup.yaml'), [
        'cell: {name: cortex00, dir: ./cortex00}',
        'state: {dir: ./state}',
        `service: {adapter: process, process: {command: [/bin/ls, -l, /proc/self/fd/]}}`,
        '',
      ].join('\n'));
      mkdirSync(path.join(work, 'cortex00'));
      const { loadConfig } = await import('../../src/config/load.js');
      const { createAdapter } = await import('../../src/service/index.js');
      const adapter = createAdapter(loadConfig({ cwd: work }).config, { cellDir: path.join(work, 'cortex00'), stateDir, cwd: work });
      await adapter.start('2.180.0');
      const logFile = path.join(stateDir, 'cortex00.log');
      const pid = pidOf(stateDir);
      for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 25));
      const lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.includes(' -> '));
      const targets = lines.map((l) => l.replace(/^.* (\d+) -> (.*)$/, '$1 $2'));
      const unexpected = targets.filter((t) => !/^0 \/dev\/null$|^[12] /.test(t) && !/^\d+ \/proc\/\d+\/fd$/.test(t) && !/^\d+ \/dev\/null$/.test(t));
      expect(targets.some((t) => t.startsWith('1 ') && t.endsWith('cortex00.log'))).toBe(true);
      expect(unexpected).toEqual([]);
    } finally {
      await journal.close();
    }
  });
});

