// synup deploy upgrade --parallel (see deploy-upgrade for the basics).
import { describe, expect, it } from 'vitest';
import { startDeployment, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

describe('synup deploy upgrade --parallel: the lanes of one tier at once', () => {
  const interval = (run: { phases: Record<string, { startedAt: string; endedAt: string }> }, id: string) => [Date.parse(run.phases[id]!.startedAt), Date.parse(run.phases[id]!.endedAt)] as const;

  it('runs axon00 and jsonstor00 at once, each line prefixed with its service, then the Cortex tier', async () => {
    harness = await startDeployment({ version: '2.180.0', jsonstor: true });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y', '--parallel', '2']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const name of ['axon00', 'jsonstor00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
    // Every line of a lane carries its service; the single-cell runner's lines too.
    expect(r.stderr).toMatch(/^\[axon00\] \[deploy\/upgrade:axon00\] done: axon00 2\.180\.0 → 2\.182\.0$/m);
    expect(r.stderr).toMatch(/^\[jsonstor00\] \[deploy\/upgrade:jsonstor00\] done: jsonstor00 2\.180\.0 → 2\.182\.0$/m);
    expect(r.stderr).toMatch(/^\[jsonstor00\] \[upgrade\/cold-defrag\] completed/m);
    const tier1 = r.stderr.slice(0, r.stderr.indexOf('[deploy/upgrade-mirror:cortex01]')).split('\n').filter((l) => l.includes('[upgrade/'));
    expect(tier1.length).toBeGreaterThan(20);
    expect(tier1.filter((l) => !/^\[(axon00|jsonstor00)\] \[upgrade\//.test(l))).toEqual([]);
    // A tier of one lane is not prefixed.
    expect(r.stderr).toMatch(/^\[deploy\/promote:cortex01\] done: /m);
    const run = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout).run;
    const [axon, jsonstor, mirror] = [interval(run, 'upgrade:axon00'), interval(run, 'upgrade:jsonstor00'), interval(run, 'upgrade-mirror:cortex01')];
    expect(Math.max(axon[0], jsonstor[0])).toBeLessThan(Math.min(axon[1], jsonstor[1]));
    expect(mirror[0]).toBeGreaterThanOrEqual(Math.max(axon[1], jsonstor[1]));
    console.log(`--parallel 2: axon00 ${axon[1] - axon[0]} ms and jsonstor00 ${jsonstor[1] - jsonstor[0]} ms overlapped; tier 1 took ${Math.max(axon[1], jsonstor[1]) - Math.min(axon[0], jsonstor[0])} ms`);
  }, 240_000);

  it('SIGINT while two lanes upgrade: each service\'s own run rolls it back, both phases are journaled interrupted (exit 130); resume redoes both', async () => {
    harness = await startDeployment({ version: '2.180.0', jsonstor: true, migrationMs: 2000 });
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y', '--parallel', '2']);
    await Promise.all([untilStderr(run, /^\[axon00\] \[upgrade\/stop\] completed/), untilStderr(run, /^\[jsonstor00\] \[upgrade\/stop\] completed/)]);
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(130);
    for (const name of ['axon00', 'jsonstor00']) {
      expect(r.stderr).toMatch(new RegExp(`^\\[${name}\\] synup: received SIGINT: finishing the current action, then stopping before any downtime, or rolling back`, 'm'));
      expect(await harness.version(name)).toBe('2.180.0');
      expect(await harness.active(name)).toBe(true);
    }
    expect(r.stderr).toMatch(/^Deployment lab stopped on SIGINT at upgrade:(axon00|jsonstor00): interrupted by SIGINT: \1's upgrade was rolled back; it is at 2\.180\.0 again\.$/m);
    expect(r.stderr).toMatch(/^`synup deploy resume` will run: upgrade:axon00, upgrade:jsonstor00, upgrade-mirror:cortex01, /m);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout).run;
    expect(status).toMatchObject({ outcome: 'interrupted', phases: { 'upgrade:axon00': { state: 'interrupted' }, 'upgrade:jsonstor00': { state: 'interrupted' }, 'upgrade-mirror:cortex01': { state: 'pending' } } });
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    for (const name of ['axon00', 'jsonstor00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
  }, 240_000);

  it('the first failure lets the running lane finish and starts nothing after it; resume goes on once fixed', async () => {
    harness = await startDeployment({ version: '2.180.0', jsonstor: true, migrationMsOf: { axon00: 4000 }, processEnv: { jsonstor00: { SYN_SIM_FAULT: 'crash-on-boot@2.182.0' } } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/^\[jsonstor00\] \[deploy\/upgrade:jsonstor00\] rolled-back: jsonstor00: the upgrade to 2\.182\.0 failed and was rolled back; jsonstor00 is at 2\.180\.0 again$/m);
    expect(r.stderr).toMatch(/^Deployment lab stopped at upgrade:jsonstor00: jsonstor00: the upgrade to 2\.182\.0 failed and was rolled back/m);
    const run = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout).run;
    // axon00's upgrade was running when jsonstor00 failed, and finished.
    expect(run.phases['upgrade:axon00'].state).toBe('done');
    expect(interval(run, 'upgrade:axon00')[1]).toBeGreaterThan(interval(run, 'upgrade:jsonstor00')[1]);
    expect(run.phases['upgrade-mirror:cortex01'].state).toBe('pending');
    expect(await harness.version('axon00')).toBe('2.182.0');
    expect(await harness.version('jsonstor00')).toBe('2.180.0');
    expect(await harness.version('cortex01')).toBe('2.180.0');
    expect(await harness.active('cortex00')).toBe(true);

    harness.setProcessEnv('jsonstor00', {});
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect([...resumed.stderr.matchAll(/^\[deploy\/(\S+)\] done: /gm)].map((m) => m[1])).toEqual(['upgrade:jsonstor00', 'upgrade-mirror:cortex01', 'catch-up:cortex01', 'promote:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    for (const name of ['axon00', 'jsonstor00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
  }, 240_000);
});
