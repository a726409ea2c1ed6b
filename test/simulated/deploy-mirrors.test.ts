// synup deploy upgrade: a leader and two mirrors while a client writes (see deploy-upgrade for the basics).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSimCell } from '../sim/index.js';
import { expectEveryAckedWriteOn, mirrorOf, startDeployment, startWriter, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

describe('synup deploy upgrade: a leader and two mirrors, a client writing the whole time', () => {
  const doneOrder = (stderr: string) => [...stderr.matchAll(/^\[deploy\/(\S+)\] done: /gm)].map((m) => m[1]);

  it('graceful (AHA): the other mirror follows the new leader by its alias; synup waits until it has caught up with it before the old leader goes down', async () => {
    harness = await startDeployment({ version: '2.180.0', mirrors: 2, aha: true });
    const cells = ['cortex00', 'cortex01', 'cortex02'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    const { acked, failed } = await writer.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(doneOrder(r.stderr)).toEqual(['upgrade:axon00', 'upgrade-mirror:cortex01', 'catch-up:cortex01', 'upgrade-mirror:cortex02', 'catch-up:cortex02', 'promote:cortex01', 'follow-new-leader:cortex02', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    expect(r.stderr).toMatch(/^\[deploy\/follow-new-leader:cortex02\] done: caught up with cortex01: nexus index \d+ ≥ \d+ \(waited \d+ ms\)$/m);
    // Not touched by synup: it followed the alias.
    expect(mirrorOf(harness.services.cortex02!.dir)).toBe('aha://cortex/');
    expect(r.stderr).toMatch(/^  cortex02 +2\.182\.0 +mirror of cortex01$/m);
    expect(await harness.active('cortex01')).toBe(true);
    expect(acked.length).toBeGreaterThan(50);
    await expectEveryAckedWriteOn(harness!, cells, acked);
    const lead = await inspectSimCell(harness.services.cortex01!.dir);
    for (const name of ['cortex00', 'cortex02']) expect((await inspectSimCell(harness.services[name]!.dir)).layers).toEqual(lead.layers);
    console.log(`graceful, 2 mirrors: ${acked.length} writes acknowledged, ${failed} failed, 0 missing on any cell`);
  }, 300_000);

  it("graceful without AHA (the other mirror follows the old leader's address): refused before anything is touched (exit 2), saying why", async () => {
    // Issue 21 item 6: what was found only after the promotion (follow-new-leader timing out) is read before the run.
    harness = await startDeployment({ version: '2.180.0', mirrors: 2 });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^synup: deployment \\S+: cortex02 follows https://127\\.0\\.0\\.1:${harness.services.cortex00!.port}/ \\(mirror: in its cell\\.yaml\\), an address: with mirror\\.promotion: graceful it would stay on cortex00 after cortex01 is promoted$`, 'm'));
    expect(r.stderr).toMatch(/^  fix: point cortex02 at the leader's AHA name \(mirror: aha:\/\/…\), or use mirror\.promotion: failure \(synup re-points every mirror\)$/m);
    expect(await harness.active('cortex00')).toBe(true);
    for (const name of ['axon00', 'cortex00', 'cortex01', 'cortex02']) expect(await harness.version(name)).toBe('2.180.0');
    expect(existsSync(path.join(harness.work, 'state', 'deployments', 'lab.json'))).toBe(false);
  }, 240_000);

  it('failure mode (no AHA): the mirror marked promote: is promoted, the other is pointed at it and restarted; synup killed after the promotion resumes in the middle', async () => {
    harness = await startDeployment({ version: '2.180.0', mirrors: 2, promotion: 'failure', promote: 'cortex02' });
    const cells = ['cortex00', 'cortex01', 'cortex02'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    // Without AHA there is no hand-off: writers pause for the promotion (no leader from the stop until then; a write
    // the stopping leader acknowledged that no mirror pulled would make synup refuse it, see the late-write test).
    await untilStderr(run, /^\[deploy\/promote:cortex02\] Warm cortex02.s Storm .*Promote/);
    await writer.pause();
    const promoted = await untilStderr(run, /^\[deploy\/promote:cortex02\] done: /);
    writer.resume();
    run.kill('SIGKILL');
    expect((await run).signal).toBe('SIGKILL');
    expect(promoted).toMatch(/cortex02 had cortex00's nexus index \d+ before the stop; cortex00 stopped in \d+ ms at nexus index (\d+) \(its files\), cortex02 has \d+: checked in \d+ ms; cortex02 promoted \(failure mode\) in \d+ ms/);
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    const { acked, failed } = await writer.stop();
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(doneOrder(resumed.stderr)).toEqual(['follow-new-leader:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    expect(resumed.stderr).toMatch(/^\[deploy\/follow-new-leader:cortex01\] done: set to follow cortex02 \(cell\.mods\.yaml\) and restarted in \d+ ms; caught up with cortex02: nexus index \d+ ≥ \d+/m);
    const url = `https://127.0.0.1:${harness.services.cortex02!.port}/`;
    expect(mirrorOf(harness.services.cortex01!.dir)).toBe(url);
    expect(mirrorOf(harness.services.cortex00!.dir)).toBe(url);
    expect(resumed.stderr).not.toContain(url);
    expect(await harness.active('cortex02')).toBe(true);
    for (const name of ['cortex00', 'cortex01']) expect(await harness.active(name)).toBe(false);
    for (const name of cells) expect(await harness.version(name)).toBe('2.182.0');
    expect(acked.length).toBeGreaterThan(50);
    await expectEveryAckedWriteOn(harness!, cells, acked);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run.outcome).toBe('done');
    expect(status.services).toEqual([
      { name: 'cortex00', version: '2.182.0', role: 'mirror of cortex02' },
      { name: 'cortex01', version: '2.182.0', role: 'mirror of cortex02' },
      { name: 'cortex02', version: '2.182.0', role: 'leader' },
      { name: 'axon00', version: '2.182.0', role: 'standalone' },
    ]);
    console.log(`failure mode, 2 mirrors, killed + resumed: ${acked.length} writes acknowledged, ${failed} failed, 0 missing on any cell`);
  }, 300_000);
});
