import { describe, expect, it } from 'vitest';
import { waitLeaderMigrated } from '../../src/deploy/runner.js';
import type { CellSession } from '../../src/runner/session.js';
import type { LogMark, StampedLine } from '../../src/service/adapter.js';
import { markOf } from '../../src/service/log-stamp.js';

/**
 * Issue 20, item 5, for a deployment: the new leader's migrations after a promotion, read from a tool's log stream
 * (`docker compose logs -f`, `journalctl -f`, `kubectl logs -f`). The stream lags and cannot say it is caught up, every
 * line starts with compose's `ESC[2K`, and a leader with clients logs every request: the wait must end on what the log
 * says up to the moment the leader was active, never on a quiet stream (the 2 s "settle" it replaced concluded "no
 * migration ran" when the begin line came more than 2 s late).
 */
class ToolLog {
  readonly written: StampedLine[] = [];
  private clock = Date.UTC(2026, 11, 6, 13, 0, 0);
  constructor(private readonly lagMs: number) {}
  write(...texts: string[]): void {
    for (const text of texts) this.written.push({ text, stamp: new Date(this.clock++).toISOString().replace('Z', '000000Z') });
  }
  async *follow(signal: AbortSignal): AsyncGenerator<StampedLine> {
    yield* this.lines(signal);
  }
  /** The same stream as plain text (what the tool prints, control sequences and all). */
  async *raw(signal: AbortSignal): AsyncGenerator<string> {
    for await (const line of this.lines(signal)) yield line.text;
  }
  private async *lines(signal: AbortSignal): AsyncGenerator<StampedLine> {
    for (let i = 0; !signal.aborted; ) {
      if (i < this.written.length) {
        await new Promise((resolve) => setTimeout(resolve, this.lagMs));
        yield { ...this.written[i]!, text: `\x1b[2K${this.written[i]!.text}` };
        i++;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
  mark = async (): Promise<LogMark | null> => markOf(this.written);
}

function leaderSession(log: ToolLog): CellSession {
  return {
    config: { health: { startTimeout: 30_000 } },
    cellName: 'cortex01',
    adapter: {
      logs: ({ signal }: { signal: AbortSignal }) => log.raw(signal),
      stampedLogs: ({ signal }: { signal: AbortSignal }) => log.follow(signal),
      logMark: log.mark,
    },
    health: { waitForActive: async () => undefined },
  } as unknown as CellSession;
}

describe('deploy: the promoted leader\'s migrations on a tool\'s log stream', () => {
  it('a stream lagging 700 ms per line: waits for `model migrations complete`, never concludes from 2 s of quiet', async () => {
    const log = new ToolLog(700);
    // what a promoted Cortex logs: the hand-off, then the migration its activation scheduled
    log.write('PROMOTION: Performing leadership promotion graceful=False.', 'PROMOTION: Finished leadership promotion (was following aha://cortex/).', 'beginning model migration -> (0, 2, 36)');
    let finished: string | null = null;
    const waiting = waitLeaderMigrated(leaderSession(log), new Date()).then((text) => (finished = text));
    // the begin line reaches the follower 2.1 s after active; 2.5 s later the migration still runs
    await new Promise((resolve) => setTimeout(resolve, 4600));
    expect(finished).toBeNull();
    log.write('...model migrations complete!');
    expect(await waiting).toBe('active; 1 migration step(s) ran on the new leader and finished');
  }, 30_000);

  it('a leader busy with clients (a request logged every 50 ms) and no migration: the verdict comes once the log is read up to active, without waiting for quiet', async () => {
    const log = new ToolLog(5);
    log.write('PROMOTION: Finished leadership promotion (was following aha://cortex/).');
    const busy = setInterval(() => log.write('200 POST /api/v1/storm/call (127.0.0.1) 3.1ms'), 50);
    try {
      const started = Date.now();
      expect(await waitLeaderMigrated(leaderSession(log), new Date())).toBe('active; no migration ran');
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      clearInterval(busy);
    }
  }, 30_000);

  it('a busy leader whose migration runs: done once `model migrations complete` is read, however busy the log', async () => {
    const log = new ToolLog(5);
    log.write('beginning model migration -> (0, 2, 36)');
    const busy = setInterval(() => log.write('200 POST /api/v1/storm/call (127.0.0.1) 3.1ms'), 50);
    try {
      let finished = false;
      const waiting = waitLeaderMigrated(leaderSession(log), new Date()).then((text) => ((finished = true), text));
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(finished).toBe(false);
      log.write('...model migrations complete!');
      const started = Date.now();
      expect(await waiting).toBe('active; 1 migration step(s) ran on the new leader and finished');
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      clearInterval(busy);
    }
  }, 30_000);
});
