// synup deploy upgrade on sim cells: order, failures and resume, promotion modes, rehearse. Mirrors and a client
// writing: deploy-mirrors; signals: deploy-signals; --parallel: deploy-parallel (one file each, so they run side by side).
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, inspectSimCell, simRequest, startSim } from '../sim/index.js';
import { expectEveryAckedWriteOn, missesAWrite, mirrorOf, simWrite, startDeployment, startWriter, untilSameNexus, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;
/** A sim leader outside the deployment (item 2's tests). */
let other: ReturnType<typeof startSim> | undefined;
afterEach(async () => {
  await other?.stop();
  other = undefined;
});

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

  /**
   * Issue 21 item 2: cortex01's data and `mirror:` made another, busier leader's (other00: a copy of it, promoted by
   * hand, 3 writes ahead). Returns other00, running.
   */
  async function busierOtherLeader(h: DeployHarness) {
    const mirror = h.services.cortex01!;
    await mirror.adapter.stop({ timeoutMs: 5000 });
    const dir = path.join(h.work, 'other00');
    cpSync(mirror.dir, dir, { recursive: true });
    const yaml = path.join(dir, 'cell.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^mirror: .*\n/m, ''));
    other = startSim({ dir, version: '2.180.0', port: await freePort() });
    await other.waitForLog(/cell is active/);
    for (const name of ['x0', 'x1', 'x2']) expect(await simWrite(dir, other.port, name)).toBe(200);
    const mirrorYaml = path.join(mirror.dir, 'cell.yaml');
    writeFileSync(mirrorYaml, readFileSync(mirrorYaml, 'utf8').replace(/^mirror: .*$/m, `mirror: https://127.0.0.1:${other.port}/`));
    await mirror.adapter.start('2.180.0');
    await untilSameNexus([mirror, { name: 'other00', dir, port: other.port, configFile: '', adapter: mirror.adapter }]);
    return { dir, port: other.port, yaml: mirrorYaml };
  }

  it("a mirror following another, busier leader is refused before anything is touched (exit 3): its mirror: is not its file leader's", async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const o = await busierOtherLeader(harness);
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.181.0', '-y', '--backup']);
    expect(r.stderr).toMatch(new RegExp(`^synup: cortex01 follows https://127\\.0\\.0\\.1:${o.port}/ \\(mirror: in its cell\\.yaml\\), not cortex00, the leader the deployment file gives it \\(cortex00 answers at 127\\.0\\.0\\.1:${harness.services.cortex00!.port}\\)$`, 'm'));
    expect(r.exitCode).toBe(3);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.180.0');
    expect(await harness.active('cortex00')).toBe(true);
    expect((await simRequest({ dir: o.dir, port: o.port, path: '/api/v1/active' })).json.result.active).toBe(true);
  }, 240_000);

  it("a mirror whose nexus history is another leader's is refused before anything is touched (exit 3), though its mirror: names its file leader", async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const leader = harness.services.cortex00!;
    const o = await busierOtherLeader(harness);
    // Pointed back at cortex00, which has 1 entry: cortex01 (3 entries of other00's) pulls nothing from it.
    expect(await simWrite(leader.dir, leader.port, 'one')).toBe(200);
    await harness.services.cortex01!.adapter.stop({ timeoutMs: 5000 });
    writeFileSync(o.yaml, readFileSync(o.yaml, 'utf8').replace(/^mirror: .*$/m, `mirror: https://127.0.0.1:${leader.port}/`));
    await harness.services.cortex01!.adapter.start('2.180.0');
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.181.0', '-y', '--backup']);
    expect(r.stderr).toMatch(/^synup: cortex01's nexus log is not cortex00's: cortex01 is at nexus index 3, ahead of its leader cortex00 \(1\): it holds entries cortex00 never wrote$/m);
    expect(r.exitCode).toBe(3);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.180.0');
    expect(await harness.active('cortex00')).toBe(true);
  }, 240_000);

  it('a mirror that does not catch up stops the deployment before any promotion (exit 1)', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const [leader, mirror] = [harness.services.cortex00!, harness.services.cortex01!];
    writeFileSync(harness.file, readFileSync(harness.file, 'utf8').replace('catchUpTimeout: 30s', 'catchUpTimeout: 3s'));
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.181.0', '-y', '--backup']);
    await missesAWrite(run, leader, mirror);
    const r = await run;
    expect(r.stderr).toMatch(/Deployment lab stopped at catch-up:cortex01: cortex01 did not catch up with cortex00 within 3\.0 s \(nexus index \d+ of \d+\)/);
    expect(r.exitCode).toBe(1);
    expect(await harness.active('cortex00')).toBe(true);
    expect(await harness.version('cortex00')).toBe('2.180.0');
  }, 240_000);

  it('a promotion that fails (the mirror cannot reach its leader to hand off) leaves the leader leading (exit 1)', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const yaml = path.join(harness.services.cortex01!.dir, 'cell.yaml');
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.181.0', '-y', '--backup']);
    // Caught up now, and past the checks before the run; after its upgrade it follows a port nobody listens on, so the
    // hand-off cannot happen.
    await untilStderr(run, /^\[deploy\/upgrade:axon00\] Upgrade/);
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/mirror: .*/, 'mirror: https://127.0.0.1:9/'));
    const r = await run;
    expect(r.stderr).toMatch(/Deployment lab stopped at promote:cortex01: \S+ \S+promote\.js \S+ \d+ for cortex01: exit 1: Failed to promote service to being a leader; connect ECONNREFUSED 127\.0\.0\.1:9$/m);
    expect(r.exitCode).toBe(1);
    expect(await harness.active('cortex00')).toBe(true);
    expect(await harness.active('cortex01')).toBe(false);
    expect(r.stderr).toMatch(/^  cortex00 +2\.180\.0 +leader$/m);
  }, 240_000);

  it('without AHA (mirror.promotion: failure): the leader is stopped (its exit cut short once its data is closed), the mirror promoted, the old leader pointed at it in cell.mods.yaml', async () => {
    // cortex00 closes its data 0.7 s after SIGTERM, then lingers 3 s before it exits (a real Cortex waits on its drive
    // workers there): the promotion must not wait for that (issue 21 item 7).
    harness = await startDeployment({ version: '2.180.0', promotion: 'failure', processEnv: { cortex00: { SYN_SIM_EXIT_LINGER_MS: '3000' } } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(0);
    const done = /\[deploy\/promote:cortex01\] done: Storm warmed \(answers 2\.182\.0\) in \d+ ms; cortex01 had cortex00's nexus index (\d+) before the stop; cortex00 stopped in (\d+) ms \(its data closed, the rest of its exit cut short\) at nexus index (\d+) \(its files\), cortex01 has (\d+): checked in (\d+) ms; cortex01 promoted \(failure mode\) in \d+ ms: no leader for (\d+) ms; cortex00 set to follow cortex01 \(cell\.mods\.yaml\); active; \d+ migration step\(s\) ran/.exec(r.stderr);
    expect(done, r.stderr).not.toBeNull();
    // Nothing written meanwhile: the index it answered, its files and the mirror agree.
    expect(new Set([done![1], done![3], done![4]]).size).toBe(1);
    // 0.7 s to close its data, not 3.7 s to exit.
    expect(Number(done![2])).toBeLessThan(2500);
    console.log(`failure mode, no writes: the leader's stop took ${done![2]} ms (its exit lingers 3 s), the check after it ${done![5]} ms, no leader for ${done![6]} ms`);
    expect(mirrorOf(harness.services.cortex00!.dir)).toBe(`https://127.0.0.1:${harness.services.cortex01!.port}/`);
    expect(await harness.active('cortex01')).toBe(true);
    expect(await harness.active('cortex00')).toBe(false);
    const [lead, follower] = [await inspectSimCell(harness.services.cortex01!.dir), await inspectSimCell(harness.services.cortex00!.dir)];
    expect(lead.layers[0]).toMatchObject({ modelVersion: '0.2.32', migrated: { '2.181.0': 257, '2.182.0': 257 } });
    expect(follower.layers).toEqual(lead.layers);
    expect(r.stderr).not.toContain(`https://127.0.0.1:${harness.services.cortex01!.port}/`);
  }, 240_000);

  it("without AHA, a write acknowledged as the leader stops that the mirror never got: not promoted, the old leader leads again with every acknowledged write (exit 1); resume with the writers stopped promotes", async () => {
    // late-write-on-stop: cortex00, stopping, is cut off from its mirror and acknowledges one more write first.
    harness = await startDeployment({ version: '2.180.0', promotion: 'failure', processEnv: { cortex00: { SYN_SIM_FAULT: 'late-write-on-stop' } } });
    const cells = ['cortex00', 'cortex01'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    await writer.pause();
    expect(r.exitCode, r.stderr).toBe(1);
    const refused = /^\[deploy\/promote:cortex01\] failed: not promoting cortex01: cortex01 has nexus index (\d+), less than cortex00 stopped at (\d+) \(its files; it answered (\d+) before the stop\): promoting it would lose (\d+) entr(?:y|ies); cortex00 leads again \(started at 2\.180\.0, no leader for (\d+) ms\), nothing was promoted$/m.exec(r.stderr);
    expect(refused, r.stderr).not.toBeNull();
    const [mirrorIndex, finalIndex, answered, lost] = refused!.slice(1, 5).map(Number);
    expect(finalIndex).toBeGreaterThan(answered!);
    expect(lost).toBe(finalIndex! - mirrorIndex!);
    expect(r.stderr).toMatch(/^\[deploy\/promote:cortex01\]   fix: `synup deploy resume` retries the promotion; if writers keep landing on cortex00 as it stops, stop them for the promotion$/m);
    expect(r.stderr).toMatch(/^Deployment lab stopped at promote:cortex01: /m);
    // Nothing changed: cortex00 leads (no mirror: set), cortex01 still follows it.
    expect(await harness.active('cortex00')).toBe(true);
    expect(await harness.active('cortex01')).toBe(false);
    expect(mirrorOf(harness.services.cortex00!.dir)).toBeNull();
    expect(mirrorOf(harness.services.cortex01!.dir)).toBe(`https://127.0.0.1:${harness.services.cortex00!.port}/`);
    expect([await harness.version('cortex00'), await harness.version('cortex01')]).toEqual(['2.180.0', '2.182.0']);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run.phases).toMatchObject({ 'promote:cortex01': { state: 'failed' }, 'upgrade-old-leader:cortex00': { state: 'pending' } });
    // Every write acknowledged so far, the late one too, is on the leader, and on the mirror once it pulled again.
    await expectEveryAckedWriteOn(harness!, cells, writer.acked);
    // The fix the hint gives: no writes during the promotion (the stopping leader then acknowledges none).
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^\[deploy\/promote:cortex01\] done: .*cortex00 stopped in \d+ ms at nexus index (\d+) \(its files\), cortex01 has \1: checked in \d+ ms; cortex01 promoted \(failure mode\)/m);
    writer.resume();
    await untilSameNexus(cells.map((name) => harness!.services[name]!));
    const { acked, failed } = await writer.stop();
    expect(await harness.active('cortex01')).toBe(true);
    expect(await harness.active('cortex00')).toBe(false);
    await expectEveryAckedWriteOn(harness!, cells, acked);
    console.log(`failure mode, late write at the stop: refused (${lost} entr${lost === 1 ? 'y' : 'ies'} short, no leader for ${refused![5]} ms), then resumed; ${acked.length} writes acknowledged, ${failed} failed, 0 missing on any cell`);
  }, 300_000);

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
