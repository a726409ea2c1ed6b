// Issue 21 item 1: synup killed between a failure-mode promotion's stop of the leader and the promotion: `deploy status`
// says what the cells say and `deploy resume` reads the stopped leader's files. (Every phase killed: deploy-crash.)
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/budget.js';
import { expectEveryAckedWriteOn, startDeployment, startWriter, untilSameNexus, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const TO = '2.182.0';

describe('failure-mode promotion: synup killed between the leader\'s stop and the promotion (issue 21 item 1)', () => {
  it('deploy status says what the cells say (the leader stopped, not "leader"); resume reads the stopped leader\'s files and promotes the complete mirror', async () => {
    // cortex00 takes 3 s to stop (its envs held): synup is killed while it waits for that stop, as an operator's
    // kill -9 or an OOM kill could at any moment of the promotion.
    harness = await startDeployment({ version: '2.180.0', promotion: 'failure', migrationMs: 300, processEnv: { cortex00: { SYN_SIM_STOP_MS: '3000' } } });
    const cells = ['cortex00', 'cortex01'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const run = harness.spawn(['deploy', 'upgrade', '--to', TO, '--backup', '-y']);
    await untilStderr(run, /^\[deploy\/promote:cortex01\] Warm /);
    // Without AHA there is no hand-off: writers pause for the promotion (a write the stopping leader acknowledged that
    // the mirror did not pull makes synup refuse the promotion: the next test).
    await writer.pause();
    // The leader stops serving at once on SIGTERM: synup is then inside the leader's stop.
    await waitFor(async () => !(await harness!.active('cortex00').then(() => true, () => false)), 'cortex00 to stop answering', { timeoutMs: 30_000, intervalMs: 100 });
    run.kill('SIGKILL');
    expect((await run).signal).toBe('SIGKILL');
    await waitFor(async () => !(await harness!.services.cortex00!.adapter.status()).running, 'cortex00 to be stopped', { timeoutMs: 15_000, intervalMs: 100 });
    expect(await harness.active('cortex01')).toBe(false);

    const status = await harness.run(['deploy', 'status', '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    const services = JSON.parse(status.stdout).services as { name: string; role: string; journalRole?: string }[];
    expect(services.find((s) => s.name === 'cortex00')).toMatchObject({ role: 'stopped', journalRole: 'leader' });
    expect(services.find((s) => s.name === 'cortex01')).toMatchObject({ role: 'mirror of cortex00' });
    const human = await harness.run(['deploy', 'status']);
    expect(human.stderr).toMatch(/^  cortex00 +2\.180\.0 +stopped +\(the journal: leader\)$/m);

    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr.slice(-4000)).toBe(0);
    expect(resumed.stderr).toMatch(/^\[deploy\/promote:cortex01\] done: .*cortex00 was already stopped \(synup stopped during the promotion\): nexus index (\d+) in its files, cortex01 has \1; cortex01 promoted \(failure mode\)/m);
    writer.resume();
    await untilSameNexus(cells.map((name) => harness!.services[name]!));
    const { acked } = await writer.stop();
    expect(await harness.active('cortex01')).toBe(true);
    expect(await harness.active('cortex00')).toBe(false);
    for (const name of cells) expect(await harness.version(name)).toBe(TO);
    await expectEveryAckedWriteOn(harness!, cells, acked);
  }, 300_000);

  it('a mirror missing an entry of the stopped leader is not promoted: resume starts the old leader again as the leader, then promotes once it has everything', async () => {
    // late-write-on-stop: cortex00, stopping, is cut off from its mirror and acknowledges one more write first.
    harness = await startDeployment({ version: '2.180.0', promotion: 'failure', migrationMs: 300, processEnv: { cortex00: { SYN_SIM_FAULT: 'late-write-on-stop' } } });
    const cells = ['cortex00', 'cortex01'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const killed = await harness.run(['deploy', 'upgrade', '--to', TO, '--backup', '-y'], { SYNUP_CRASH_AT: 'promote:cortex01@leader-stopped' });
    expect(killed.signal, killed.stderr.slice(-3000)).toBe('SIGKILL');
    await writer.pause();
    expect((await harness.services.cortex00!.adapter.status()).running).toBe(false);
    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr.slice(-4000)).toBe(0);
    expect(resumed.stderr).toMatch(/^\[deploy\/promote:cortex01\] cortex00 was already stopped \(synup stopped during the promotion\) at nexus index (\d+) \(its files\); cortex01 has nexus index (\d+), less than cortex00 stopped at \1 .*: starting cortex00 again as the leader/m);
    writer.resume();
    const { acked } = await writer.stop();
    expect(await harness.active('cortex01')).toBe(true);
    for (const name of cells) expect(await harness.version(name)).toBe(TO);
    await expectEveryAckedWriteOn(harness!, cells, acked);
  }, 300_000);
});
