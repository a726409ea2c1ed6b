import { afterEach, describe, expect, it } from 'vitest';
import { Journal } from '../../src/runner/journal.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

async function stoppedDigest(h: Harness, restartAt: string): Promise<unknown> {
  await h.adapter.stop({ timeoutMs: 5000 });
  const digest = await h.digest();
  await h.adapter.start(restartAt);
  return digest;
}

describe('synup upgrade on a real sim cell', () => {
  it('upgrades across releases with migrations: defragments, waits for model migrations, keeps a rollback point', async () => {
    harness = await startHarness({ version: '2.180.0' });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(result.stderr).toContain('[upgrade/cold-defrag] completed');
    expect(result.stderr).toContain('[upgrade/wait-migrations] completed');
    expect(result.stderr).toMatch(/Upgraded cortex00 2\.180\.0 → 2\.182\.0\. Downtime/);
    expect(result.exitCode).toBe(0);
    expect(await harness.version()).toBe('2.182.0');
    expect(harness.siblings().some((n) => /^cortex00\.synup-pre-/.test(n))).toBe(true);
    expect(harness.siblings().some((n) => /staging/.test(n))).toBe(false);
    const history = JSON.parse((await harness.run(['history', '--json'])).stdout);
    expect(history.runs).toHaveLength(1);
    expect(history.runs[0]).toMatchObject({ from: '2.180.0', to: '2.182.0', outcome: 'done' });
    expect(history.runs[0].downtimeMs).toBeGreaterThan(0);
    expect(history.runs[0].bytesAfter).toBeGreaterThan(0);
  });

  it('rolls back automatically when the new version dies mid-migration: old version healthy, data as before', async () => {
    harness = await startHarness({ version: '2.180.0' });
    const before = await stoppedDigest(harness, '2.180.0');
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y'], { SYN_SIM_FAULT: 'die-mid-migration@2.182.0' });
    expect(result.stderr).toMatch(/Rolled back cortex00 to 2\.180\.0/);
    expect(result.exitCode).toBe(4);
    expect((await harness.adapter.status()).running).toBe(true);
    expect(await harness.version()).toBe('2.180.0');
    expect(harness.siblings().some((n) => /^cortex00\.synup-failed-/.test(n))).toBe(true);
    expect(await stoppedDigest(harness, '2.180.0')).toEqual(before);
  });

  it('rollback --force of an upgrade that served for two hours counts only the two outages as downtime', async () => {
    harness = await startHarness({ version: '2.180.0' });
    expect((await harness.run(['upgrade', '--to', '2.181.0', '-y'])).exitCode).toBe(0);
    // The upgrade happened two hours ago: every timestamp of the run moved back, nothing else changed.
    const twoHours = 2 * 3_600_000;
    const earlier = (iso?: string) => (iso ? new Date(Date.parse(iso) - twoHours).toISOString() : iso);
    const journal = Journal.open(harness.stateDir);
    const run = journal.latest(harness.cellDir)!;
    const upgradeDowntime = Date.parse(run.data.activeAt!) - Date.parse(run.data.stoppedAt!);
    journal.update(run.id, (r) => {
      Object.assign(r, { startedAt: earlier(r.startedAt), endedAt: earlier(r.endedAt) });
      Object.assign(r.data, { stoppedAt: earlier(r.data.stoppedAt), newStartedAt: earlier(r.data.newStartedAt), activeAt: earlier(r.data.activeAt), migratedAt: earlier(r.data.migratedAt) });
    });
    await journal.close();
    const result = await harness.run(['--json', 'rollback', '--force', '-y']);
    expect(result.exitCode, result.stderr).toBe(4);
    const summary = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
    expect(summary).toMatchObject({ outcome: 'rolled-back' });
    expect(summary.downtimeMs).toBeGreaterThan(upgradeDowntime);
    expect(summary.downtimeMs).toBeLessThan(60_000);
    expect(await harness.version()).toBe('2.180.0');
  });

  it('--dry-run prints every step and changes nothing', async () => {
    harness = await startHarness({ version: '2.180.0' });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '--dry-run']);
    expect(result.exitCode).toBe(0);
    for (const step of ['preflight', 'backup-gate', 'probes-off', 'stop', 'cold-defrag', 'start', 'wait-migrations', 'confirm', 'probes-on', 'finish']) {
      expect(result.stderr).toContain(`[upgrade/${step}]`);
    }
    expect(result.stderr).toMatch(/Would /);
    expect(harness.siblings()).toEqual(['cortex00']);
    expect(await harness.version()).toBe('2.180.0');
    expect(JSON.parse((await harness.run(['history', '--json'])).stdout).runs).toEqual([]);
  });

  it('refuses without a fresh verified backup, before any downtime (exit 3)', async () => {
    harness = await startHarness({ version: '2.180.0', backup: false });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/no verified backup of this cell newer than/);
    expect(result.stderr).toMatch(/fix: run `synup backup` first, or pass --backup/);
    expect((await harness.adapter.status()).running).toBe(true);
    expect(harness.siblings()).toEqual(['cortex00']);
  });

  it('refuses a downgrade and a run without -y when there is no terminal', async () => {
    harness = await startHarness({ version: '2.181.0', backup: false });
    const down = await harness.run(['upgrade', '--to', '2.180.0', '-y']);
    expect(down.exitCode).toBe(3);
    expect(down.stderr).toMatch(/downgrade/i);
    const noYes = await harness.run(['upgrade', '--to', '2.182.0', '--backup']);
    expect(noYes.exitCode).toBe(2);
    expect(noYes.stderr).toMatch(/pass -y\/--yes/);
    expect(harness.siblings()).toEqual(['cortex00']);
  });
});
