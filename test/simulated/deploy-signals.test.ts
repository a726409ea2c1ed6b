// synup deploy upgrade: SIGINT between and during phases (see deploy-upgrade for the basics; SIGTERM during the promote
// command: deploy-signals-promote).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { missesAWrite, startDeployment, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

describe('synup deploy upgrade: SIGINT between and during phases', () => {
  it('SIGINT during a catch-up: nothing changes, the phase is journaled interrupted, exit 130; resume goes on once the mirror is fixed', async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const [leader, mirror] = [harness.services.cortex00!, harness.services.cortex01!];
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.181.0', '-y', '--backup']);
    await missesAWrite(run, leader, mirror);
    const yaml = path.join(mirror.dir, 'cell.yaml');
    await untilStderr(run, /^\[deploy\/catch-up:cortex01\] Wait until/);
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/^synup: received SIGINT: finishing the current action, then stopping the deployment/m);
    expect(r.stderr).toMatch(/^Deployment lab stopped on SIGINT at catch-up:cortex01: interrupted by SIGINT: nothing changed while waiting for cortex01 to catch up with cortex00\.$/m);
    expect(r.stderr).toMatch(/^Done: upgrade:axon00, upgrade-mirror:cortex01\.$/m);
    expect(r.stderr).toMatch(/^`synup deploy resume` will run: catch-up:cortex01, promote:cortex01, upgrade-old-leader:cortex00, catch-up:cortex00\.$/m);
    expect(r.stderr).toMatch(/^  cortex00 +2\.180\.0 +leader$/m);
    expect(await harness.active('cortex00')).toBe(true);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run).toMatchObject({ outcome: 'interrupted', phases: { 'catch-up:cortex01': { state: 'interrupted' }, 'promote:cortex01': { state: 'pending' } } });
    const again = await harness.run(['deploy', 'upgrade', '--to', '2.181.0', '-y']);
    expect(again.stderr).toMatch(/^synup: deployment lab has a run that did not finish \(interrupted: catch-up:cortex01: /m);
    expect(again.exitCode).toBe(3);

    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/mirror: .*/, `mirror: https://127.0.0.1:${leader.port}/`));
    await mirror.adapter.stop({ timeoutMs: 5000 });
    await mirror.adapter.start('2.181.0');
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect([...resumed.stderr.matchAll(/^\[deploy\/(\S+)\] done: /gm)].map((m) => m[1])).toEqual(['catch-up:cortex01', 'promote:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.181.0');
  }, 240_000);

  it("SIGINT during a service's upgrade: its own run rolls it back, the deployment stops there (exit 130) and starts nothing after it", async () => {
    harness = await startDeployment({ version: '2.180.0' });
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.182.0', '-y', '--backup']);
    await untilStderr(run, /^\[deploy\/upgrade-mirror:cortex01\] Upgrade/);
    await untilStderr(run, /^\[upgrade\/stop\] completed/);
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(130);
    // The deployment and the service's own run each say what they do.
    expect(r.stderr.match(/^synup: received SIGINT: finishing the current action, then stopping before any downtime, or rolling back once the service was stopped$/gm)).toHaveLength(1);
    expect(r.stderr.match(/^synup: received SIGINT: finishing the current action, then stopping the deployment /gm)).toHaveLength(1);
    expect(r.stderr).toMatch(/^Deployment lab stopped on SIGINT at upgrade-mirror:cortex01: interrupted by SIGINT: cortex01's upgrade was rolled back; it is at 2\.180\.0 again\.$/m);
    expect(r.stderr).toMatch(/^`synup deploy resume` will run: upgrade-mirror:cortex01, catch-up:cortex01, promote:cortex01, upgrade-old-leader:cortex00, catch-up:cortex00\.$/m);
    expect(r.stderr).not.toMatch(/^\[deploy\/catch-up:cortex01\]/m);
    expect(await harness.version('cortex01')).toBe('2.180.0');
    expect(await harness.active('cortex01')).toBe(false);
    expect(await harness.active('cortex00')).toBe(true);
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
  }, 240_000);
});
