// Issue 20, item 5, for a deployment: a promoted leader busy with clients. A real Cortex logs every HTTP request
// (`_log_web_request`: `200 POST /api/v1/storm/call (127.0.0.1) 3.10ms`), so with a client writing its log is never
// quiet; the sims here do the same (SYN_SIM_LOG_REQUESTS=1). synup must call the new leader migrated once its log,
// read up to the moment it was active, shows every migration begun finished — not after some quiet, and not before
// `...model migrations complete!`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectSimCell } from '../sim/index.js';
import { expectEveryAckedWriteOn, startDeployment, startWriter, untilStderr, type DeployHarness } from '../support/deploy-harness.js';

let harness: DeployHarness | undefined;

/** `2026-12-06 15:50:00,123 [WARNING] text [...]` → ms since the epoch (the sim logs UTC, as Python's asctime here). */
const asctimeMs = (line: string) => Date.parse(`${line.slice(0, 23).replace(' ', 'T').replace(',', '.')}Z`);

describe('synup deploy upgrade: a promoted leader that logs every client request', () => {
  it('is called migrated only after it logged `model migrations complete`, its long migration running under a client writing every 20 ms; no acknowledged write lost', async () => {
    const busy = { SYN_SIM_LOG_REQUESTS: '1' };
    // cortex01's model migration takes 3 s per release after the promotion (2 releases): a client writes throughout
    harness = await startDeployment({ version: '2.180.0', aha: true, processEnv: { cortex00: busy, cortex01: busy }, migrationMsOf: { cortex01: 6000 } });
    const cells = ['cortex00', 'cortex01'];
    const writer = startWriter(cells.map((name) => harness!.services[name]!));
    const run = harness.spawn(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    const promoted = await untilStderr(run, /^\[deploy\/promote:cortex01\] done: /);
    const promotedAt = Date.now();
    const r = await run;
    const { acked, failed } = await writer.stop();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(promoted).toMatch(/promoted in \d+ ms \(hand-off\); cortex00 now follows cortex01 .*; active; \d+ migration step\(s\) ran on the new leader and finished$/);
    // cortex01's own log: busy with requests, and its model migration ended before synup said so
    const log = readFileSync(path.join(harness.work, 'state', 'cortex01.log'), 'utf8').split('\n');
    const requests = log.filter((l) => / POST \/api\/v1\/sim\/nodes \(127\.0\.0\.1\) [\d.]+ms/.test(l)).length;
    expect(requests).toBeGreaterThan(50);
    const promotion = log.findIndex((l) => l.includes('PROMOTION: Finished leadership promotion'));
    const complete = log.slice(promotion).filter((l) => l.includes('...model migrations complete!')).at(-1);
    expect(complete, 'the new leader logged the end of its model migration').toBeDefined();
    expect(asctimeMs(complete!)).toBeLessThanOrEqual(promotedAt);
    expect((await inspectSimCell(harness.services.cortex01!.dir)).layers[0]).toMatchObject({ modelVersion: '0.2.32' });
    expect(acked.length).toBeGreaterThan(50);
    await expectEveryAckedWriteOn(harness, cells, acked);
    console.log(`busy leader: ${requests} requests logged by cortex01, ${acked.length} writes acknowledged, ${failed} failed, 0 missing; migrated ${promotedAt - asctimeMs(complete!)} ms after its log said so`);
  }, 300_000);
});
