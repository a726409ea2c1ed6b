// What the real Cortex taught (issue 12), on the sim made as unkind: a 1.5 MB core/info, a drive worker in the
// process group holding a reader slot, `beginning model migration` 60–100 ms before the listener, non-fatal
// tracebacks, a service run as uid 999.
import { chmodSync, chownSync, existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { groupMembers } from '../../src/proc.js';
import { synupBin } from '../support/helpers.js';
import { waitFor } from '../support/budget.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const SERVICE_UID = 999;
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
const asRootReason = process.geteuid?.() !== 0 ? 'not running as root' : !SETPRIV ? 'setpriv is not installed' : null;
if (asRootReason) console.warn(`ownership tests skipped: ${asRootReason}`);

const summaryOf = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.type === 'summary')!;
const pidOf = (h: Harness) => (JSON.parse(readFileSync(path.join(h.stateDir, 'cortex00.pid'), 'utf8')) as { pid: number }).pid;
const allPaths = (dir: string) => [dir, ...readdirSync(dir, { recursive: true }).map((rel) => path.join(dir, String(rel)))];

describe('the service version, credentials and environment', () => {
  it('confirm asks the service with SYNUP_HEALTH_PASSWORD alone (user root) although core/info is 1.5 MB; the service never sees the password; status shows the version', async () => {
    const secret = 'pw-' + Math.random().toString(36).slice(2);
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_PASSWORD: secret } });
    const env = { SYNUP_HEALTH_PASSWORD: secret };
    const plan = await harness.run(['plan', '--to', '2.181.0', '--dir', harness.cellDir], env);
    expect(plan.stdout + plan.stderr).not.toMatch(/confirm can check only the data/);
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y'], env);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('version 2.181.0 confirmed by the service and its data');
    const environ = readFileSync(`/proc/${pidOf(harness)}/environ`, 'utf8').split('\0');
    expect(environ.filter((v) => v.startsWith('SYNUP_'))).toEqual([]);
    expect(environ.some((v) => v.startsWith('PATH='))).toBe(true);
    const status = JSON.parse((await harness.run(['status', '--json'], env)).stdout);
    expect(status).toMatchObject({ serviceVersion: '2.181.0', serviceVersionError: null });
  });

  it('without a password, plan and run say loudly that confirm checks only the data; status says why it has no service version', async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_PASSWORD: 'x' } });
    const plan = await harness.run(['plan', '--to', '2.181.0', '--dir', harness.cellDir]);
    expect(plan.stdout + plan.stderr).toMatch(/WARNING.*confirm can check only the data: no health password \(SYNUP_HEALTH_PASSWORD/);
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/\[upgrade\/confirm\].*WARNING: confirm can check only the data/);
    expect(result.stderr).toContain('version 2.181.0 confirmed by its data');
    const status = await harness.run(['status']);
    expect(status.stderr).toMatch(/service version unknown \(no credentials: set SYNUP_HEALTH_PASSWORD/);
  });
});

describe('downtime, sizes, tracebacks', () => {
  it('reports downtime twice (API back, migrated), on-disk sizes, and a traceback while migrating does not fail the boot', async () => {
    harness = await startHarness({ version: '2.180.0', seed: 2000 });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y', '--json'], { SYN_SIM_MIGRATION_MS: '2000' });
    expect(result.exitCode, result.stderr).toBe(0);
    // The sim logs a non-fatal traceback right after it is active, while its model migration runs.
    expect(result.stdout).toContain('Traceback (most recent call last):');
    const summary = summaryOf(result.stdout);
    expect(summary.migratedMs as number).toBeGreaterThan(summary.downtimeMs as number);
    const pre = harness.siblings().find((n) => n.startsWith('cortex00.synup-pre-'))!;
    // Nothing writes the pre-upgrade dir after the swap: what it holds on disk is what the defrag started from.
    const onDisk = allPaths(path.join(harness.work, pre))
      .filter((p) => !/\/(tmp|sockets)(\/|$)/.test(p.slice(harness!.work.length + pre.length)) && lstatSync(p).isFile() && path.basename(p) !== 'lock.mdb')
      .reduce((sum, p) => sum + statSync(p).blocks * 512, 0);
    expect(summary.bytesBefore).toBe(onDisk);
    expect(summary.reclaimedBytes).toBe((summary.bytesBefore as number) - (summary.bytesAfter as number));
    const human = await harness.run(['history']);
    expect(human.stderr).toMatch(/\(migrated \d/);
  });
});

describe('whatever synup started, it stops completely', () => {
  it('the new version SIGKILLed mid-migration (main pid only, its drive worker lives on holding a reader slot): rolled back, exit 4, the dead boot shown by its signal', async () => {
    harness = await startHarness({ version: '2.180.0', seed: 3000 });
    const log = path.join(harness.stateDir, 'cortex00.log');
    const offset = statSync(log).size;
    const run = harness.run(['upgrade', '--to', '2.181.0', '-y'], { SYN_SIM_MIGRATION_MS: '4000' });
    await waitFor(() => /Starting cortex version 2\.181\.0[\s\S]*Migrating Drive Slabs/.test(readFileSync(log, 'utf8').slice(offset)), 'the new version migrates', { timeoutMs: 30_000, intervalMs: 20 });
    const killed = pidOf(harness);
    process.kill(killed, 'SIGKILL');
    const result = await run;
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/the new version 2\.181\.0 exited while booting: pid \d+ \(2\.181\.0\) was killed by SIGKILL; 1 process\(es\) of its group remain/);
    expect(result.stderr).toMatch(/stopped what it left behind \(pids \d+\)/);
    expect(groupMembers(killed)).toEqual([]);
    expect(await harness.adapter.status()).toMatchObject({ running: true, configuredVersion: '2.180.0' });
  });
});

describe.skipIf(asRootReason !== null)(`a service that runs as uid ${SERVICE_UID} while synup runs as root`, () => {
  const asService = ({ work, cellDir }: { work: string; cellDir: string }) => {
    chmodSync(work, 0o755);
    for (const p of allPaths(cellDir)) chownSync(p, SERVICE_UID, SERVICE_UID);
  };

  it('upgrade (cold defrag, swap), backup and restore keep owner, group and mode of every file', async () => {
    harness = await startHarness({ version: '2.180.0', backup: false, runAs: [SETPRIV!, `--reuid=${SERVICE_UID}`, `--regid=${SERVICE_UID}`, '--clear-groups'], beforeStart: asService });
    const modes = new Map(allPaths(harness.cellDir).map((p) => [path.relative(harness!.cellDir, p), lstatSync(p).mode]));
    const result = await harness.run(['upgrade', '--to', '2.181.0', '-y', '--backup']);
    expect(result.exitCode, result.stderr).toBe(0);
    const notOurs = allPaths(harness.cellDir).filter((p) => lstatSync(p).uid !== SERVICE_UID || lstatSync(p).gid !== SERVICE_UID);
    expect(notOurs).toEqual([]);
    for (const [rel, mode] of modes) {
      const now = path.join(harness.cellDir, rel);
      if (existsSync(now) && !rel.endsWith('lock.mdb')) expect([rel, lstatSync(now).mode]).toEqual([rel, mode]);
    }
    const backup = readdirSync(harness.backupsDir).map((n) => path.join(harness!.backupsDir, n)).find((p) => statSync(p).isDirectory())!;
    const restored = path.join(harness.work, 'restored');
    const restore = await harness.run(['restore', backup, restored]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    expect(allPaths(restored).filter((p) => lstatSync(p).uid !== SERVICE_UID)).toEqual([]);
  });

  it(`preflight refuses (exit 3, before any downtime) when synup runs as another user and cannot keep the owners`, async () => {
    harness = await startHarness({ version: '2.180.0' });
    chmodSync(harness.work, 0o755);
    // synup's own dirs: as if it always ran as uid 999 (it re-hashes the backup before preflight).
    for (const p of [...allPaths(harness.stateDir), ...allPaths(harness.backupsDir)]) chownSync(p, SERVICE_UID, SERVICE_UID);
    // The cell belongs to uid 998; synup (uid 999) may read and write it through its group, but not give copies uid 998.
    for (const p of allPaths(harness.cellDir)) {
      chownSync(p, SERVICE_UID - 1, SERVICE_UID);
      chmodSync(p, lstatSync(p).mode | (lstatSync(p).isDirectory() ? 0o070 : 0o060));
    }
    const before = harness.siblings();
    const result = await execa(SETPRIV!, [`--reuid=${SERVICE_UID}`, `--regid=${SERVICE_UID}`, '--clear-groups', process.execPath, synupBin, 'upgrade', '--to', '2.181.0', '-y'], {
      cwd: harness.work,
      env: { CI: 'true', NO_COLOR: '1', HOME: harness.work },
      reject: false,
    });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/\[ERROR ownership\] .* belongs to uid 998 gid 999; synup runs as uid 999/);
    expect(harness.siblings()).toEqual(before);
    expect(await harness.adapter.status()).toMatchObject({ running: true });
  });
});
