// synup deploy upgrade on sim cells: the order, failures and resume, rehearse. The pre-checks and the promotion modes:
// deploy-promotion; mirrors and a client writing: deploy-mirrors; signals: deploy-signals; --parallel: deploy-parallel
// (one file each, so they run side by side).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSimCell } from '../sim/index.js';
import { mirrorOf, startDeployment, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

describe('synup deploy upgrade on sim cells (a standalone Axon, a Cortex and its mirror)', () => {
  it('upgrades in order: Axon, then the mirror (ready, not active), catch-up, promotion with migrations, the old leader as a mirror', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(0);
    const order = [...r.stderr.matchAll(/^\[deploy\/(\S+)\] done: /gm)].map((m) => m[1]);
    expect(order).toEqual(['upgrade:axon00', 'upgrade-mirror:cortex01', 'catch-up:cortex01', 'promote:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    expect(r.stderr).toMatch(/\[deploy\/upgrade-mirror:cortex01\] done: cortex01 2\.180\.0 → 2\.182\.0 \(as a mirror: ready, passive\)/);
    expect(r.stderr).toMatch(/\[deploy\/promote:cortex01\] done: Storm warmed \(answers 2\.182\.0\) in \d+ ms; promoted in \d+ ms \(hand-off\); cortex00 now follows cortex01 and was stopped in \d+ ms until its upgrade; active; \d+ migration step\(s\) ran on the new leader and finished/);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
    expect(await harness.active('cortex01')).toBe(true);
    expect(await harness.active('cortex00')).toBe(false);
    expect(mirrorOf(harness.services.cortex00!.dir)).toBe(`https://127.0.0.1:${harness.services.cortex01!.port}/`);
    expect(mirrorOf(harness.services.cortex01!.dir)).toBeNull();
    // The migrations ran once, on the new leader, and the old leader replicated them.
    const [lead, follower] = [await inspectSimCell(harness.services.cortex01!.dir), await inspectSimCell(harness.services.cortex00!.dir)];
    expect(lead).toMatchObject({ vers: { 'sim:storage': 2 }, layers: [{ modelVersion: '0.2.32', migrated: { '2.181.0': 257, '2.182.0': 257 } }] });
    expect(follower.layers).toEqual(lead.layers);
    expect(follower.nexusIndex).toBe(lead.nexusIndex);
    expect(r.stderr).toMatch(/^  cortex01 +2\.182\.0 +leader$/m);
    expect(r.stderr).toMatch(/^  cortex00 +2\.182\.0 +mirror of cortex01$/m);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run.outcome).toBe('done');
    expect(status.services).toEqual([
      { name: 'cortex00', version: '2.182.0', role: 'mirror of cortex01' },
      { name: 'cortex01', version: '2.182.0', role: 'leader' },
      { name: 'axon00', version: '2.182.0', role: 'standalone' },
    ]);
  }, 240_000);

  it('stops at the first failing service, rolls that one back, leaves the rest as they were; resume goes on once fixed', async () => {
    harness = await startDeployment({ version: '2.180.0', processEnv: { axon00: { SYN_SIM_FAULT: 'die-mid-migration@2.182.0' } } });
    const failed = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(failed.stderr).toMatch(/Deployment lab stopped at upgrade:axon00: axon00: the upgrade to 2\.182\.0 failed and was rolled back; axon00 is at 2\.180\.0 again/);
    expect(failed.exitCode).toBe(4);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.180.0');
    expect(await harness.active('axon00')).toBe(true);
    expect(await harness.active('cortex00')).toBe(true);
    expect(await harness.active('cortex01')).toBe(false);
    const again = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '-y']);
    expect(again.stderr).toMatch(/^synup: deployment lab has a run that did not finish \(rolled-back: upgrade:axon00: /m);
    expect(again.exitCode).toBe(3);

    harness.setProcessEnv('axon00', {});
    // The README's `deploy resume -y`: the run's own --backup is kept in its journal (issue 21 item 17).
    const resumed = await harness.run(['deploy', 'resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^Resuming with the run's options: --backup \(a fresh verified backup of each service before its downtime\), --parallel 2$/m);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
    expect(await harness.active('cortex01')).toBe(true);
    const nothing = await harness.run(['deploy', 'resume', '-y']);
    expect(nothing.stderr).toMatch(/the last run finished .*; nothing to resume/);
    expect(nothing.exitCode).toBe(0);
  }, 300_000);

  it('a mirror whose new version fails is rolled back as a mirror; its leader keeps leading; the Axon before it stays upgraded', async () => {
    harness = await startDeployment({ version: '2.180.0', processEnv: { cortex01: { SYN_SIM_FAULT: 'crash-on-boot@2.182.0' } } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.stderr).toMatch(/Deployment lab stopped at upgrade-mirror:cortex01: cortex01: the upgrade to 2\.182\.0 failed and was rolled back; cortex01 is at 2\.180\.0 again/);
    expect(r.exitCode).toBe(4);
    expect(await harness.version('axon00')).toBe('2.182.0');
    expect(await harness.version('cortex01')).toBe('2.180.0');
    expect(await harness.version('cortex00')).toBe('2.180.0');
    expect(await harness.active('cortex00')).toBe(true);
    expect(await harness.active('cortex01')).toBe(false);
    expect(r.stderr).toMatch(/^  cortex01 +2\.180\.0 +mirror of cortex00$/m);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run.phases).toMatchObject({ 'upgrade:axon00': { state: 'done' }, 'upgrade-mirror:cortex01': { state: 'rolled-back' }, 'promote:cortex01': { state: 'pending' } });
  }, 240_000);

  it('rehearse: every service on a copy of its backup, one JUnit testsuite per service; a service without a backup fails its suite', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    expect((await harness.run(['-c', 'cortex00.yaml', 'backup'])).exitCode).toBe(0);
    const report = path.join(harness.work, 'junit.xml');
    const missing = await harness.run(['deploy', 'rehearse', '--to', '2.182.0', '--report', report]);
    expect(missing.stderr).toMatch(/^  axon00 +FAILED no verified backup of axon00 at 2\.180\.0 newer than 1 h in \S+backups\/axon00$/m);
    expect(missing.exitCode).toBe(1);
    expect((await harness.run(['-c', 'axon00.yaml', 'backup'])).exitCode).toBe(0);
    const passed = await harness.run(['deploy', 'rehearse', '--to', '2.182.0', '--report', report]);
    expect(passed.exitCode, passed.stderr).toBe(0);
    expect(passed.stderr).toMatch(/^  cortex00 +ok +2\.180\.0 → 2\.182\.0 passed, first boot /m);
    expect(passed.stderr).toMatch(/^  cortex01 +ok +mirror of cortex00: rehearsed with its leader's data$/m);
    const xml = readFileSync(report, 'utf8');
    expect([...xml.matchAll(/<testsuite name="([^"]+)"/g)].map((m) => m[1])).toEqual(['axon00', 'cortex01', 'cortex00']);
    expect(xml).toMatch(/<testsuites name="synup deploy rehearse lab" tests="\d+" failures="0"/);
    expect(xml).toContain('classname="synup.deploy.lab.cortex00" name="wait-migrations"');
    // The live cells were not touched.
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.180.0');
    expect(await harness.active('cortex00')).toBe(true);
  }, 240_000);

  it('the old leader failing as a mirror is rolled back behind the new leader; resume after a promotion that already happened does not promote twice', async () => {
    harness = await startDeployment({ version: '2.180.0', processEnv: { cortex00: { SYN_SIM_FAULT: 'crash-on-boot@2.182.0' } } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.stderr).toMatch(/Deployment lab stopped at upgrade-old-leader:cortex00: cortex00: the upgrade to 2\.182\.0 failed and was rolled back; cortex00 is at 2\.180\.0 again/);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/^  cortex01 +2\.182\.0 +leader$/m);
    // What its cell says: stopped, its cell.mods.yaml following the new leader.
    expect(r.stderr).toMatch(/^  cortex00 +2\.180\.0 +stopped, mirror of cortex01$/m);
    expect(await harness.active('cortex01')).toBe(true);
    // Stopped right after the hand-off (a follower of a newer leader only holds writes), and its rollback leaves it as
    // it was before its own upgrade: stopped, not an old version serving nothing.
    await expect(harness.active('cortex00')).rejects.toThrow(/ECONNREFUSED/);
    // As if synup had been killed right after the promotion: the journal still says it is running.
    const journal = path.join(harness.work, 'state', 'deployments', 'lab.json');
    const run = JSON.parse(readFileSync(journal, 'utf8'));
    run.phases['promote:cortex01'].state = 'running';
    writeFileSync(journal, JSON.stringify(run));
    harness.setProcessEnv('cortex00', {});
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/\[deploy\/promote:cortex01\] done: cortex01 already leads \(promoted before synup stopped\)/);
    expect(await harness.version('cortex00')).toBe('2.182.0');
    expect(await harness.active('cortex00')).toBe(false);
    expect(await harness.active('cortex01')).toBe(true);
  }, 240_000);
});
