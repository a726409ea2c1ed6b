// Online defrag (issue 24) on sim cells: the shadow mirror made from the cell's own backup, followed while a client
// writes, swapped in at downtime; and every way it can fall short ending in the cold defrag with nothing lost.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSimCell, simRequest } from '../sim/index.js';
import { readPidRecord } from '../../src/service/pidfile.js';
import { startWriter, untilStderr } from '../support/deploy-harness.js';
import { onlineEnv, SIM_CHANGELOG, startHarness, startOnlineHarness, type Harness } from '../support/upgrade-harness.js';
import { synup, tempDir } from '../support/helpers.js';
import { waitFor } from '../support/budget.js';

const FAST = { SYN_SIM_MIGRATION_MS: '300', SYN_SIM_STOP_MS: '100' };

/** Every name the client was told was written is in the cell, once. */
async function expectAllAcked(harness: Harness, acked: string[]): Promise<void> {
  const { names } = await inspectSimCell(harness.cellDir, { names: true });
  const have = new Set(names);
  expect(acked.filter((n) => !have.has(n))).toEqual([]);
  expect(names!.length).toBe(have.size);
}

/** Active, not a mirror, at `version`, the cell's own config files back. */
async function expectLeaderAt(harness: Harness, version: string, cellYaml: string): Promise<void> {
  const active = await simRequest({ dir: harness.cellDir, port: harness.port, path: '/api/v1/active' });
  expect(active.json.result.active).toBe(true);
  expect(await harness.version()).toBe(version);
  expect(readFileSync(path.join(harness.cellDir, 'cell.yaml'), 'utf8')).toBe(cellYaml);
  expect(existsSync(path.join(harness.cellDir, 'cell.mods.yaml'))).toBe(false);
}

const shadowPidFile = (harness: Harness) => readdirSync(harness.stateDir).find((f) => /\.shadow-.*\.pid$/.test(f));

describe('synup upgrade --defrag online (sim)', () => {
  it('swaps in the shadow that followed the cell while a client wrote: every acknowledged write kept, boots as the leader', async () => {
    const harness = await startOnlineHarness({ version: '2.180.0', seed: 2000, processEnv: FAST });
    const cellYaml = readFileSync(path.join(harness.cellDir, 'cell.yaml'), 'utf8');
    const writer = startWriter([{ dir: harness.cellDir, port: harness.port } as never], 20);
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y'], onlineEnv);
    const { acked } = await writer.stop();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('[upgrade/shadow] completed');
    expect(result.stderr).toContain('[upgrade/shadow-swap] completed');
    expect(result.stderr).toContain('[upgrade/cold-defrag] skipped');
    expect(result.stderr).not.toContain(onlineEnv.SYNUP_HEALTH_PASSWORD);
    expect(acked.length).toBeGreaterThan(10);
    await expectAllAcked(harness, acked);
    await expectLeaderAt(harness, '2.182.0', cellYaml);
    expect(harness.siblings()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-pre-/)]);
    // The shadow is gone: its process stopped, its pid file says so.
    expect(readPidRecord(path.join(harness.stateDir, shadowPidFile(harness)!))?.stoppedAt).toBeTruthy();
    const history = JSON.parse((await harness.run(['history', '--json'])).stdout);
    expect(history.runs[0]).toMatchObject({ outcome: 'done' });
    // The journal holds no password: the URL the shadow followed is journaled without credentials.
    const journalBytes = readdirSync(path.join(harness.stateDir, 'journal.lmdb')).map((f) => readFileSync(path.join(harness.stateDir, 'journal.lmdb', f)).toString('latin1')).join('');
    expect(journalBytes).not.toContain(onlineEnv.SYNUP_HEALTH_PASSWORD);
    // The original dir is the rollback point, as after a cold defrag.
    const back = await harness.run(['rollback', '--force', '-y'], onlineEnv);
    expect(back.exitCode, back.stderr).toBe(4);
    expect(back.stderr).toContain('[rollback/shadow-swap] rolled-back');
    await expectLeaderAt(harness, '2.180.0', cellYaml);
    expect(harness.siblings()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-failed-/)]);
  });

  it('plan says which defrag runs and why: online where it applies, cold with the reason where it cannot', async () => {
    const online = await startOnlineHarness({ version: '2.180.0', processEnv: FAST });
    const yes = await online.run(['plan', '--to', '2.182.0'], onlineEnv);
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(yes.stderr).toMatch(/Defrag: online \(upgrade\.defrag is online.*the shadow follows tcp:\/\/127\.0\.0\.1:\d+\/\)/);
    expect(yes.stderr).toMatch(/\bshadow\b.*\$lib\.backup\.run/);
    expect(yes.stderr).not.toContain(onlineEnv.SYNUP_HEALTH_PASSWORD);
    const noPassword = await online.run(['plan', '--to', '2.182.0', '--format', 'json']);
    expect(JSON.parse(noPassword.stdout).defrag).toMatchObject({ mode: 'cold', requested: 'online', reason: expect.stringMatching(/no health password/) });
    const plain = await startHarness({ version: '2.180.0', processEnv: FAST });
    const no = await plain.run(['plan', '--to', '2.182.0', '--defrag', 'online']);
    expect(no.exitCode, no.stderr).toBe(0);
    expect(no.stderr).toMatch(/Defrag: cold \(online defrag cannot apply: the cell has no telepath listener \(dmon:listen\)/);
    expect(no.stderr).not.toMatch(/shadow-swap/);
    const bad = await plain.run(['plan', '--to', '2.182.0', '--defrag', 'warm']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--defrag.*warm.*(cold|online)/s);
    // Without a cell and its synup.yaml there is nothing to choose from: refused, nothing written.
    const empty = tempDir('synup-nocell-');
    const blind = await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', SIM_CHANGELOG, '--defrag', 'online'], { cwd: empty });
    expect(blind.exitCode).toBe(2);
    expect(blind.stderr).toContain('--defrag needs the cell and its synup.yaml');
    expect(readdirSync(empty)).toEqual([]);
  });

  it('a shadow slower than the writer never catches up: removed before any downtime, the cold defrag runs, nothing lost', async () => {
    const harness = await startOnlineHarness({ version: '2.180.0', processEnv: { ...FAST, SYN_SIM_MIRROR_APPLY_MS: '200' }, onlineYaml: 'catchUpTimeout: 3s, cutoverWait: 2s' });
    const writer = startWriter([{ dir: harness.cellDir, port: harness.port } as never], 20);
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y'], onlineEnv);
    const { acked } = await writer.stop();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/\[upgrade\/shadow\] +online defrag falls back to the cold defrag: the shadow mirror reached nexus index \d+ of \d+ within 3\.0 s/);
    expect(result.stderr).toContain('[upgrade/shadow-swap] skipped');
    expect(result.stderr).toContain('[upgrade/cold-defrag] completed');
    // Found out before the stop: the downtime is the cold defrag's, not cutoverWait more.
    expect(result.stderr.indexOf('falls back')).toBeLessThan(result.stderr.indexOf('[upgrade/stop] running'));
    await expectAllAcked(harness, acked);
    expect(await harness.version()).toBe('2.182.0');
    expect(harness.siblings()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-pre-/)]);
    expect(readdirSync(path.join(harness.cellDir, 'backups')).filter((n) => n.startsWith('synup-shadow'))).toEqual([]);
  });

  it('the shadow dies while following: removed, the cold defrag runs, nothing lost', async () => {
    const harness = await startOnlineHarness({ version: '2.180.0', processEnv: { ...FAST, SYN_SIM_MIRROR_APPLY_MS: '50' }, onlineYaml: 'catchUpTimeout: 60s, cutoverWait: 2s' });
    const writer = startWriter([{ dir: harness.cellDir, port: harness.port } as never], 20);
    const run = synup(['upgrade', '--to', '2.182.0', '-y'], { cwd: harness.work, env: { CI: 'true', ...onlineEnv } });
    // A shadow slower than the writer is still catching up when it is killed.
    const pid = await waitFor(() => {
      const file = existsSync(harness.stateDir) ? shadowPidFile(harness) : undefined;
      const record = file ? readPidRecord(path.join(harness.stateDir, file)) : null;
      return record && !record.stoppedAt ? record.pid : null;
    }, 'the shadow to be started');
    process.kill(-pid, 'SIGKILL');
    const result = await run;
    const { acked } = await writer.stop();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/online defrag falls back to the cold defrag: the shadow mirror stopped: pid \d+ that synup started \(2\.180\.0\) was killed by SIGKILL/);
    expect(result.stderr).toContain('[upgrade/cold-defrag] completed');
    await expectAllAcked(harness, acked);
    expect(await harness.version()).toBe('2.182.0');
    expect(harness.siblings()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-pre-/)]);
  });

  it('the cell dies before the stop: its final nexus index comes from its files, the shadow holds it and is swapped in, nothing lost', async () => {
    const harness = await startOnlineHarness({ version: '2.180.0', processEnv: FAST });
    const writer = startWriter([{ dir: harness.cellDir, port: harness.port } as never], 20);
    const run = synup(['upgrade', '--to', '2.182.0', '-y'], { cwd: harness.work, env: { CI: 'true', ...onlineEnv } });
    await untilStderr(run, /^\[upgrade\/shadow\] completed/);
    process.kill(-readPidRecord(path.join(harness.stateDir, 'cortex00.pid'))!.pid, 'SIGKILL');
    const result = await run;
    const { acked } = await writer.stop();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('[upgrade/shadow-swap] completed');
    await expectAllAcked(harness, acked);
    expect(await harness.version()).toBe('2.182.0');
  });

  it('the new version fails on the swapped-in shadow: rolled back to the original dir, the shadow kept as the failed dir', async () => {
    const harness = await startOnlineHarness({ version: '2.180.0', processEnv: FAST });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y'], { ...onlineEnv, SYN_SIM_FAULT: 'die-mid-migration@2.182.0' });
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toContain('[upgrade/shadow-swap] rolled-back');
    expect(await harness.version()).toBe('2.180.0');
    expect((await harness.adapter.status()).running).toBe(true);
    expect(harness.siblings()).toEqual(['cortex00', expect.stringMatching(/^cortex00\.synup-failed-/)]);
  });
});
