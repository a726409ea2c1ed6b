import { afterEach, describe, expect, it } from 'vitest';
import { inspectSimCell } from './sim/index.js';
import { mirrorOf, startDeployment, type DeployHarness } from './deploy-harness.js';

let harness: DeployHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

describe('synup deploy upgrade on sim cells (a standalone Axon, a Cortex and its mirror)', () => {
  it('upgrades in order: Axon, then the mirror (ready, not active), catch-up, promotion with migrations, the old leader as a mirror', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(0);
    const order = [...r.stderr.matchAll(/^\[deploy\/(\S+)\] done: /gm)].map((m) => m[1]);
    expect(order).toEqual(['upgrade:axon00', 'upgrade-mirror:cortex01', 'catch-up:cortex01', 'promote:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    expect(r.stderr).toMatch(/\[deploy\/upgrade-mirror:cortex01\] done: cortex01 2\.180\.0 → 2\.182\.0 \(as a mirror: ready, passive\)/);
    expect(r.stderr).toMatch(/\[deploy\/promote:cortex01\] done: promoted in \d+ ms \(hand-off\); cortex00 now follows cortex01; active; \d+ migration step\(s\) ran on the new leader and finished/);
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
    harness = await startDeployment({ version: '2.180.0', processEnv: { axon00: { SYNUP_SIM_FAULT: 'die-mid-migration@2.182.0' } } });
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
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
    expect(await harness.active('cortex01')).toBe(true);
    const nothing = await harness.run(['deploy', 'resume', '-y']);
    expect(nothing.stderr).toMatch(/the last run finished .*; nothing to resume/);
    expect(nothing.exitCode).toBe(0);
  }, 300_000);
});
