// The single-cell crash matrix (test/simulated/crash-*.test.ts): synup killed with a real SIGKILL at a test-only crash
// point (SYNUP_CRASH_AT), then `synup resume`. Split in files by the step the point is in, so that they run side by side.
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { cellLockFile } from '../../src/safety/lock.js';
import { readPidRecord } from '../../src/service/pidfile.js';
import { isAlive } from '../../src/proc.js';
import { startHarness } from './upgrade-harness.js';

export const FROM = '2.180.0';
export const TO = '2.182.0';

/**
 * A sim cell at FROM with a fresh backup. These tests are about where synup dies, not about how long the sim migrates
 * or stops: 0.3 s per release, not 1.5 s, and a 0.1 s stop, not 0.7 s.
 */
export const startCrashHarness = () => startHarness({ version: FROM, processEnv: { SYN_SIM_MIGRATION_MS: '300', SYN_SIM_STOP_MS: '100' } });

/** A crash point, the version resume must end at, and the environment of both runs (a sim fault for rollbacks). */
export type CrashPoint = [point: string, expected: 'new' | 'old', env: Record<string, string>];

/**
 * Each point: killed there, `synup resume` must leave the cell fully old or fully new, healthy, unlocked, with only
 * synup's own marked dirs beside it; a second resume has nothing to do.
 */
export function describeCrashMatrix(title: string, points: CrashPoint[], start: () => ReturnType<typeof startCrashHarness> = startCrashHarness, runEnv: Record<string, string> = {}): void {
  describe(`crash matrix (${title}): SIGKILL at any point, then synup resume`, () => {
    it.each(points)('killed at %s → resume ends fully %s', async (point, expected, env) => {
      const harness = await start();
      const killed = await harness.run(['upgrade', '--to', TO, '-y'], { ...runEnv, ...env, SYNUP_CRASH_AT: point });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      const resumed = await harness.run(['resume', '-y'], { ...runEnv, ...env });
      expect(resumed.exitCode, resumed.stderr).toBe(expected === 'new' ? 0 : 4);
      expect(await harness.version()).toBe(expected === 'new' ? TO : FROM);
      expect((await harness.adapter.status()).running).toBe(true);
      expect(existsSync(cellLockFile(harness.cellDir))).toBe(false);
      const siblings = harness.siblings().filter((n) => n !== 'cortex00');
      for (const name of siblings) expect(name).toMatch(expected === 'new' ? /^cortex00\.synup-pre-/ : /^cortex00\.synup-failed-/);
      expect(siblings.length).toBeLessThanOrEqual(1);
      // No other service synup started (an online defrag's shadow mirror) is left running.
      for (const file of readdirSync(harness.stateDir).filter((f) => f.endsWith('.pid') && f !== 'cortex00.pid')) {
        const record = readPidRecord(path.join(harness.stateDir, file));
        expect(record && !record.stoppedAt && isAlive(record.pid, record.startTicks), file).toBeFalsy();
      }
      const again = await harness.run(['resume', '-y'], runEnv);
      expect(again.stderr).toMatch(/Nothing to resume/);
      expect(readdirSync(harness.work).filter((f) => f.includes('synup-lock'))).toEqual([]);
    });
  });
}
