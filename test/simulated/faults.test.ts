import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/upgrade-harness.js';
import { budgetSetting } from '../support/budget.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const FROM = '2.180.0';
const TO = '2.181.0';

async function stoppedDigest(h: Harness): Promise<unknown> {
  await h.adapter.stop({ timeoutMs: 5000 });
  const digest = await h.digest();
  await h.adapter.start(FROM);
  return digest;
}

describe('every fault of the new version → automatic rollback to a healthy old version with the same data', () => {
  it.each([
    ['crash-on-boot', /exited while booting|failed while booting/],
    ['hang-before-active', /no progress for 4\.0 s/],
    ['never-active', /no progress for 4\.0 s/],
    ['wrong-version', /the service reports version 2\.0\.0, expected 2\.181\.0/],
    ['die-mid-migration', /died in the middle of the 2\.181\.0 storage migration/],
  ])('%s', async (fault, reason) => {
    harness = await startHarness({ version: FROM, startTimeout: budgetSetting(4) });
    const before = await stoppedDigest(harness);
    const result = await harness.run(['upgrade', '--to', TO, '-y'], { SYN_SIM_FAULT: `${fault}@${TO}` });
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toMatch(new RegExp(`Rolled back cortex00 to ${FROM.replace(/\./g, '\\.')}`));
    const status = await harness.adapter.status();
    expect(status.running).toBe(true);
    expect(await harness.version()).toBe(FROM);
    expect(await stoppedDigest(harness)).toEqual(before);
  });

  it('an old version that ignores SIGTERM is killed after the stop deadline and the upgrade goes on', async () => {
    harness = await startHarness({ version: FROM, processEnv: { SYN_SIM_FAULT: `ignore-sigterm@${FROM}` } });
    const result = await harness.run(['upgrade', '--to', TO, '-y']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/forced: it ignored the graceful stop/);
    expect(await harness.version()).toBe(TO);
  });

  it('a cell whose pages the old version corrupted on exit is never swapped: exit 4, the old version back, data untouched', async () => {
    harness = await startHarness({ version: FROM, processEnv: { SYN_SIM_FAULT: `corrupt-on-exit@${FROM}` } });
    // Read while it runs (LMDB readers do not disturb it): a graceful stop would already flip the page.
    const before = await harness.digest();
    const result = await harness.run(['upgrade', '--to', TO, '-y']);
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/cold-defrag\] failed .*MDB_PAGE_NOTFOUND/);
    expect(result.stderr).toMatch(new RegExp(`Rolled back cortex00 to ${FROM.replace(/\./g, '\\.')}`));
    expect(harness.siblings()).toEqual(['cortex00']);
    expect((await harness.adapter.status()).running).toBe(true);
    expect(await harness.version()).toBe(FROM);
    // The fault XORs the page header on every graceful stop: this second stop restores it, so every entry must be
    // exactly what it was before the upgrade (synup changed nothing in the cell dir).
    await harness.adapter.stop({ timeoutMs: 5000 });
    expect(await harness.digest()).toEqual(before);
  });
});
