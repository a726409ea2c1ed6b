import { describe, expect, it } from 'vitest';
import type { StepContext } from '../../src/runner/context.js';
import type { RunRecord } from '../../src/runner/journal.js';
import { waitMigrations } from '../../src/runner/steps/wait-migrations.js';
import type { LogMark, StampedLine } from '../../src/service/adapter.js';
import { markOf } from '../../src/service/log-stamp.js';
import { tempDir } from '../support/helpers.js';

/**
 * Issue 20, item 5: "migrated" must be true whatever the log source. A tool's stream (`docker compose logs -f`,
 * `journalctl -f`, `kubectl logs -f`) lags and cannot say it is caught up, and a Cortex with a client polling it logs
 * every request, so quiet proves nothing either way. This log is what such a tool shows: every line starts with
 * compose's `ESC[2K`, carries the source's own stamp, and reaches the follower `lagMs` after it was written.
 */
class ToolLog {
  readonly written: StampedLine[] = [];
  private clock = Date.UTC(2026, 11, 6, 13, 0, 0);
  write(...texts: string[]): void {
    for (const text of texts) this.written.push({ text, stamp: new Date(this.clock++).toISOString().replace('Z', '000000Z') });
  }
  /** What the tool prints for line i (today's compose: ESC[2K first, even with --ansi never). */
  raw = (i: number) => `\x1b[2K${this.written[i]!.text}`;
  constructor(private readonly lagMs: number) {}
  async *follow(signal: AbortSignal, raw: boolean): AsyncGenerator<StampedLine | string> {
    for (let i = 0; !signal.aborted; ) {
      if (i < this.written.length) {
        await new Promise((resolve) => setTimeout(resolve, this.lagMs));
        yield raw ? this.raw(i) : { ...this.written[i]!, text: this.raw(i) };
        i++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  mark = async (): Promise<LogMark | null> => markOf(this.written);
}

function bootContext(log: ToolLog, options: { onActive?: () => void; instance?: () => string | undefined } = {}) {
  const progress: string[] = [];
  const run = { to: '2.250.0', data: {} } as RunRecord;
  const ctx = {
    config: { health: { startTimeout: 30_000, host: '127.0.0.1', port: 4443 } },
    cellDir: tempDir(),
    plan: { migrations: [{ version: '2.250.0' }], modelChanges: ['2.250.0'] },
    run,
    adapter: {
      status: async () => ({ running: true, ...(options.instance?.() ? { instance: options.instance() } : {}) }),
      logs: ({ signal }: { signal: AbortSignal }) => log.follow(signal, true),
      stampedLogs: ({ signal }: { signal: AbortSignal }) => log.follow(signal, false),
      logMark: log.mark,
    },
    health: {
      async waitForActive() {
        options.onActive?.();
      },
    },
    update(change: (r: RunRecord) => void) {
      change(run);
      return run;
    },
    progress: (message: string) => progress.push(message),
  } as unknown as StepContext;
  return { ctx, progress };
}

describe('wait-migrations on a tool\'s log stream', () => {
  it('a lagging stream with ESC[2K before every line: waits for `model migrations complete`, never concludes from 2 s of quiet', async () => {
    // the follower gets each line 700 ms after it was written: the begin line reaches synup > 2 s after active
    const log = new ToolLog(700);
    log.write('Starting cortex version 2.250.0', 'Migrating Drive Slabs', '...Drive migration complete!', 'beginning model migration -> (0, 2, 36)', 'https listening: 4443');
    const { ctx, progress } = bootContext(log);
    let finished = false;
    const waiting = waitMigrations.run(ctx).then(() => (finished = true));
    await expect.poll(() => progress.some((m) => m.includes('beginning model migration -> (0, 2, 36)')), { timeout: 15_000, interval: 50 }).toBe(true);
    // caught up with active and the model migration running: not migrated, however quiet the stream
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(finished).toBe(false);
    log.write('...model migrations complete!');
    await waiting;
    expect(progress.some((m) => m.includes('model migrations complete'))).toBe(true);
    expect(progress.some((m) => m.includes('WARNING'))).toBe(false);
  }, 30_000);

  it('a client polling during the boot (a log line every 50 ms) does not delay the verdict', async () => {
    const log = new ToolLog(5);
    log.write('Starting cortex version 2.250.0', 'beginning model migration -> (0, 2, 36)', 'https listening: 4443', '...model migrations complete!');
    const busy = setInterval(() => log.write('200 GET /api/v1/active (127.0.0.1) 1.2ms'), 50);
    try {
      const { ctx } = bootContext(log);
      const started = Date.now();
      await waitMigrations.run(ctx);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      clearInterval(busy);
    }
  }, 30_000);

  it('a container restarted behind synup\'s back (new start time, RestartCount 1) is a failed boot, not a success', async () => {
    const log = new ToolLog(5);
    log.write('Starting cortex version 2.250.0', 'beginning model migration -> (0, 2, 36)');
    let instance = 'container 0123456789ab started 2026-12-06T13:00:00.1Z restarts 0';
    const { ctx } = bootContext(log, {
      instance: () => instance,
      // SIGKILL mid-migration; Docker's `restart: unless-stopped` brings it back in under a second, and the restarted
      // boot becomes active (its migration goes on in the background)
      onActive: () => {
        instance = 'container 0123456789ab started 2026-12-06T13:00:07.9Z restarts 1';
        log.write('Starting cortex version 2.250.0', 'https listening: 4443', '...model migrations complete!');
      },
    });
    await expect(waitMigrations.run(ctx)).rejects.toThrow(/restarted behind synup's back .*restarts 0.*restarts 1/);
    expect(ctx.run.data.migratedAt).toBeUndefined();
  }, 30_000);
});
