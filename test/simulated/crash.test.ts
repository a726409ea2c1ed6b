import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cellLockFile } from '../../src/safety/lock.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const FROM = '2.180.0';
const TO = '2.182.0';
/** These tests are about where synup dies, not about how long the sim migrates: 0.3 s per release, not 1.5 s. */
const start = () => startHarness({ version: FROM, processEnv: { SYN_SIM_MIGRATION_MS: '300' } });

/**
 * synup killed with a real SIGKILL (test-only crash point, SYNUP_CRASH_AT) at a step boundary, in the middle of a
 * step, between the two swap renames, in a journal write, or during rollback; then `synup resume` must leave the
 * cell fully old or fully new, healthy, unlocked, with only synup's own marked dirs beside it.
 */
const points: [string, 'new' | 'old', Record<string, string>][] = [
  ['preflight:after', 'new', {}],
  ['backup-gate:after', 'new', {}],
  ['probes-off:after', 'new', {}],
  ['stop:before', 'new', {}],
  ['stop:after', 'new', {}],
  ['cold-defrag:copied', 'new', {}],
  ['cold-defrag:before-swap', 'new', {}],
  ['cold-defrag:between-renames', 'new', {}],
  ['cold-defrag:after', 'new', {}],
  ['start:before', 'new', {}],
  ['start:after', 'new', {}],
  ['wait-migrations:before', 'new', {}],
  ['wait-migrations:after', 'new', {}],
  ['confirm:after', 'new', {}],
  ['confirm:before', 'new', {}],
  ['probes-on:after', 'new', {}],
  ['finish:before', 'new', {}],
  ['journal-write', 'new', {}],
  ['rollback:start', 'old', { SYN_SIM_FAULT: `die-mid-migration@${TO}` }],
  ['rollback:between-renames', 'old', { SYN_SIM_FAULT: `die-mid-migration@${TO}` }],
  ['rollback:cold-defrag', 'old', { SYN_SIM_FAULT: `die-mid-migration@${TO}` }],
  ['rollback:stop', 'old', { SYN_SIM_FAULT: `die-mid-migration@${TO}` }],
];

describe('crash matrix: SIGKILL at any point, then synup resume', () => {
  it.each(points)('killed at %s → resume ends fully %s', async (point, expected, env) => {
    harness = await start();
    const killed = await harness.run(['upgrade', '--to', TO, '-y'], { ...env, SYNUP_CRASH_AT: point });
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await harness.run(['resume', '-y'], env);
    expect(resumed.exitCode, resumed.stderr).toBe(expected === 'new' ? 0 : 4);
    expect(await harness.version()).toBe(expected === 'new' ? TO : FROM);
    expect((await harness.adapter.status()).running).toBe(true);
    expect(existsSync(cellLockFile(harness.cellDir))).toBe(false);
    const siblings = harness.siblings().filter((n) => n !== 'cortex00');
    for (const name of siblings) expect(name).toMatch(expected === 'new' ? /^cortex00\.synup-pre-/ : /^cortex00\.synup-failed-/);
    expect(siblings.length).toBeLessThanOrEqual(1);
    const again = await harness.run(['resume', '-y']);
    expect(again.stderr).toMatch(/Nothing to resume/);
    expect(readdirSync(harness.work).filter((f) => f.includes('synup-lock'))).toEqual([]);
  });
});

describe('resume reports the run it finished', () => {
  it('after a kill mid-upgrade: the summary says done, the real downtime and the kept rollback point', async () => {
    harness = await start();
    const killed = await harness.run(['upgrade', '--to', TO, '-y'], { SYNUP_CRASH_AT: 'start:before' });
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await harness.run(['--json', 'resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    const summary = resumed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
    expect(summary).toMatchObject({ outcome: 'done', downtimeMs: expect.any(Number), preDir: expect.stringMatching(/cortex00\.synup-pre-/) });
    expect(harness.siblings().some((n) => /^cortex00\.synup-pre-/.test(n))).toBe(true);
  });

  it('the human summary names the downtime and the rollback point, not "n/a" and "null"', async () => {
    harness = await start();
    await harness.run(['upgrade', '--to', TO, '-y'], { SYNUP_CRASH_AT: 'wait-migrations:before' });
    const resumed = await harness.run(['resume', '-y']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/Upgraded cortex00 2\.180\.0 → 2\.182\.0\. Downtime: API back after \d[^,]*, migrated after \d/);
    expect(resumed.stderr).toMatch(/Rollback point kept: \/.*cortex00\.synup-pre-/);
  });
});
