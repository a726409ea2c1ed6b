// The crash matrix, part 3: killed during a rollback (the new version dies mid-migration), and what resume reports.
import { describe, expect, it } from 'vitest';
import { describeCrashMatrix, startCrashHarness, TO } from '../support/crash-matrix.js';

const dies = { SYN_SIM_FAULT: `die-mid-migration@${TO}` };
describeCrashMatrix('rollback', [
  ['rollback:start', 'old', dies],
  ['rollback:between-renames', 'old', dies],
  ['rollback:cold-defrag', 'old', dies],
  ['rollback:stop', 'old', dies],
]);

describe('resume reports the run it finished', () => {
  it('after a kill mid-upgrade: the summary says done, the real downtime and the kept rollback point', async () => {
    const harness = await startCrashHarness();
    const killed = await harness.run(['upgrade', '--to', TO, '-y'], { SYNUP_CRASH_AT: 'start:before' });
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await harness.run(['--json', 'resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const summary = resumed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
    expect(summary).toMatchObject({ outcome: 'done', downtimeMs: expect.any(Number), preDir: expect.stringMatching(/cortex00\.synup-pre-/) });
    expect(harness.siblings().some((n) => /^cortex00\.synup-pre-/.test(n))).toBe(true);
  });

  it('the human summary names the downtime and the rollback point, not "n/a" and "null"', async () => {
    const harness = await startCrashHarness();
    await harness.run(['upgrade', '--to', TO, '-y'], { SYNUP_CRASH_AT: 'wait-migrations:before' });
    const resumed = await harness.run(['resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/Upgraded cortex00 2\.180\.0 → 2\.182\.0\. Downtime: API back after \d[^,]*, migrated after \d/);
    expect(resumed.stderr).toMatch(/Rollback point kept: \/.*cortex00\.synup-pre-/);
  });
});
