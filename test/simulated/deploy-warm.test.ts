// Before a promotion synup warms the mirror's Storm (one authenticated version read): a Cortex starts its Storm
// parser's process pool on the first query (1.2–1.5 s on the lab's real Cortex), and on a mirror that never ran one
// that wait would otherwise fall on the first writes after the promotion and on the migrations it starts. Sims with
// the real wait (--storm-start-ms 1400 through SYN_SIM_STORM_START_MS) and basic auth on their Storm API.
import { describe, expect, it } from 'vitest';
import { startDeployment, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

const realPool = { SYN_SIM_STORM_START_MS: '1400', SYN_SIM_PASSWORD: 'pw' };

describe('synup deploy upgrade: the mirror is warmed before its promotion', () => {
  it('with a health password (SYNUP_HEALTH_PASSWORD for every service that sets none): the mirror answers its version before the hand-off', async () => {
    harness = await startDeployment({ version: '2.180.0', processEnv: { cortex00: realPool, cortex01: realPool } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y'], { SYNUP_HEALTH_PASSWORD: 'pw' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[deploy\/promote:cortex01\] done: Storm warmed \(answers 2\.182\.0\) in \d+ ms; promoted in \d+ ms/);
    expect(r.stderr).not.toContain('is not warmed');
    expect(r.stderr).not.toContain('pw');
  }, 240_000);

  it('without one: a warning names the cost and the setting, and the deployment still goes through', async () => {
    harness = await startDeployment({ version: '2.180.0', processEnv: { cortex00: realPool, cortex01: realPool } });
    const r = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain("[deploy/promote:cortex01] WARNING: cortex01's Storm is not warmed: no health password (set health.password or SYNUP_HEALTH_PASSWORD). The first writes on the new leader will wait for its Storm parser pool to start (~1.5 s on a real Cortex)");
    expect(r.stderr).toMatch(/\[deploy\/promote:cortex01\] done: promoted in \d+ ms \(hand-off\)/);
  }, 240_000);
});
