// synup deploy upgrade: SIGTERM during the promote command, graceful and failure mode (SIGINT elsewhere: deploy-signals).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSimCell } from '../sim/index.js';
import { slowdown, waitFor } from '../support/budget.js';
import { tempDir } from '../support/helpers.js';
import { mirrorOf, startDeployment, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

describe('synup deploy upgrade: SIGTERM during the promote command', () => {
  it.each(['graceful', 'failure'] as const)('SIGTERM during the promote command (%s): synup waits for it (a second signal only says so), journals the phase interrupted, exit 143; resume does not promote twice', async (promotion) => {
    const mark = path.join(tempDir(), 'promote.mark');
    // The command holds long enough for both signals to reach synup while it runs, however busy the machine.
    harness = await startDeployment({ version: '2.180.0', promoteHoldMs: Math.round(3000 * slowdown), promoteMark: mark, promotion });
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.182.0', '-y', '--backup']);
    await waitFor(() => existsSync(mark), 'the promote command starts', { timeoutMs: 120_000, intervalMs: 20 });
    const signalled = Date.now();
    run.kill('SIGTERM');
    await untilStderr(run, /^synup: received SIGTERM: finishing the current action/);
    run.kill('SIGINT');
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/^synup: SIGINT again: still stopping the deployment/m);
    expect(r.stderr).toMatch(/^Deployment lab stopped on SIGTERM at promote:cortex01: interrupted by SIGTERM: cortex01 was promoted and leads, cortex00 follows it and is stopped until its upgrade; waiting for the new leader's migrations was cut short\.$/m);
    expect(r.stderr).toMatch(/^`synup deploy resume` will run: promote:cortex01, upgrade-old-leader:cortex00, catch-up:cortex00\.$/m);
    expect(r.stderr).toMatch(/^  cortex01 +2\.182\.0 +leader$/m);
    // The promote command ran to its end, after the signals, and succeeded: synup waited for it.
    const [, endedAt, code] = readFileSync(mark, 'utf8').match(/^end (\d+) (\d+)$/m) ?? [];
    expect(Number(endedAt)).toBeGreaterThan(signalled);
    expect(code).toBe('0');
    expect(await harness.active('cortex01')).toBe(true);
    await expect(harness.active('cortex00')).rejects.toThrow(/ECONNREFUSED/);
    expect(mirrorOf(harness.services.cortex00!.dir)).toBe(`https://127.0.0.1:${harness.services.cortex01!.port}/`);
    const status = JSON.parse((await harness.run(['deploy', 'status', '--json'])).stdout);
    expect(status.run).toMatchObject({ outcome: 'interrupted', leaders: { cortex00: 'cortex01' }, phases: { 'promote:cortex01': { state: 'interrupted' } } });

    const resumed = await harness.run(['deploy', 'resume', '--backup', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/\[deploy\/promote:cortex01\] done: cortex01 already leads \(promoted before synup stopped\); active/);
    for (const name of ['axon00', 'cortex00', 'cortex01']) expect(await harness.version(name)).toBe('2.182.0');
    expect(await harness.active('cortex00')).toBe(false);
    const [lead, follower] = [await inspectSimCell(harness.services.cortex01!.dir), await inspectSimCell(harness.services.cortex00!.dir)];
    expect(lead.layers[0]).toMatchObject({ modelVersion: '0.2.32', migrated: { '2.181.0': 257, '2.182.0': 257 } });
    expect(follower.layers).toEqual(lead.layers);
  }, 240_000);
});
