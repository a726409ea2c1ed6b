import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/runner/context.js';
import type { RunRecord } from '../../src/runner/journal.js';
import { waitMigrations } from '../../src/runner/steps/wait-migrations.js';
import { followFile } from '../../src/service/follow-file.js';
import { tempDir } from '../support/helpers.js';
import { budget } from '../support/budget.js';

/**
 * The wait-migrations step against a log file followed as the process adapter follows it, and a service that is
 * active at the first poll: the real Cortex logs `beginning model migration` 60–100 ms before it is active, so the
 * poll can win against the follower.
 */
function bootContext(options: { modelChanges: string[] }) {
  const dir = tempDir();
  const log = path.join(dir, 'service.log');
  writeFileSync(log, 'Starting cortex version 2.181.0, Synapse version: 2.181.0\n');
  const progress: string[] = [];
  const run = { data: {} } as RunRecord;
  const ctx = {
    config: { health: { startTimeout: 30_000, host: '127.0.0.1', port: 4443 } },
    cellDir: dir,
    plan: { migrations: [{ version: '2.181.0' }], modelChanges: options.modelChanges },
    run,
    adapter: {
      status: async () => ({ running: true }),
      // Polls the file every 500 ms: the active poll answers long before the follower reads the lines.
      logs: ({ signal, onCaughtUp }: { signal: AbortSignal; onCaughtUp?: () => void }) => followFile(log, { from: 0, signal, onCaughtUp, pollMs: 500 }),
    },
    health: {
      async waitForActive() {
        appendFileSync(log, 'beginning model migration -> (0, 2, 31)\nhttps listening: 4443\n');
      },
    },
    update(change: (r: RunRecord) => void) {
      change(run);
      return run;
    },
    progress: (message: string) => progress.push(message),
  } as unknown as StepContext;
  return { ctx, log, progress };
}

describe('wait-migrations', () => {
  it('never concludes "no model migration" before the log is read up to the moment active was seen', async () => {
    const { ctx, log, progress } = bootContext({ modelChanges: ['2.181.0'] });
    let finished = false;
    const waiting = waitMigrations.run(ctx).then(() => (finished = true));
    await expect.poll(() => progress.some((m) => m.includes('beginning model migration')), { timeout: budget(10_000) }).toBe(true);
    expect(finished).toBe(false);
    appendFileSync(log, '...model migrations complete!\n');
    await waiting;
    expect(progress.some((m) => m.includes('model migrations complete'))).toBe(true);
    expect(ctx.run.data.migratedAt).toBeDefined();
  });

  it('a boot without a model migration ends once the log is read past active; the plan expecting one says so', async () => {
    const { ctx, log, progress } = bootContext({ modelChanges: ['2.181.0'] });
    ctx.health.waitForActive = async () => appendFileSync(log, 'https listening: 4443\n');
    await waitMigrations.run(ctx);
    expect(progress.some((m) => m.includes('https listening'))).toBe(true);
    expect(progress.at(-1)).toMatch(/WARNING: the changelog announces data-model changes in 2\.181\.0, but the service logged no model migration/);
  });
});
