import type { LogMark, ServiceAdapter, StampedLine } from '../service/adapter.js';
import { advance, reached } from '../service/log-stamp.js';

/**
 * A booting (or newly promoted) service's log, followed from `since`, that can say when it has been read up to a
 * moment (issue 20): never from a quiet stream. A followed file says it was read to its end (`onCaughtUp`, process
 * adapter); a tool's stream (`docker compose logs`, `journalctl`, `kubectl logs`) carries the log source's own stamps,
 * and one bounded read of the same log (no follow), taken after the moment, says which stamp it had reached: the
 * follower has read everything written before the moment once it has handed out that line. Used by the single-cell
 * wait for migrations and by the deployment's wait for a promoted leader's migrations.
 */
export interface BootLog {
  /**
   * Every line written before `moment` (ms since the epoch, already past) has been handed to `onLine`, or the log
   * cannot be read at all (`error` then says why). Called again until true; the first call takes the bounded read.
   */
  readPast(moment: number): Promise<boolean>;
  /** Why the log could not be followed (the stream failed or ended), or null. */
  readonly error: string | null;
  /** When the follower last handed out a line (ms since the epoch): progress for a stall check. */
  readonly lastLineAt: number;
  /** Stops following and waits for the follower to end. */
  stop(): Promise<void>;
}

export interface BootLogOptions {
  since?: Date;
  /** Each line, control sequences stripped for stamped sources; called before the line counts as read. */
  onLine(text: string): void;
  /** The follow or the bounded read failed (the wait goes on; a failed bounded read is tried again). */
  onProblem?(message: string): void;
}

export function followBootLog(adapter: ServiceAdapter, options: BootLogOptions): BootLog {
  const follow = new AbortController();
  const stamped = adapter.stampedLogs && adapter.logMark ? adapter.stampedLogs.bind(adapter) : null;
  let caughtUpAt = 0;
  let read: LogMark | null = null;
  /** The bounded read taken for `markMoment`. */
  let mark: LogMark | null | undefined;
  let markMoment = 0;
  let error: string | null = null;
  let lastLineAt = Date.now();

  const done = (async () => {
    try {
      const followOptions = { signal: follow.signal, since: options.since, onCaughtUp: () => (caughtUpAt = Date.now()) };
      const lines: AsyncIterable<StampedLine | string> = stamped ? stamped(followOptions) : adapter.logs(followOptions);
      for await (const item of lines) {
        lastLineAt = Date.now();
        const { text, stamp } = typeof item === 'string' ? { text: item, stamp: null } : item;
        options.onLine(text);
        // after the line was handed out: "read up to here" never runs ahead of what the caller saw
        read = advance(read, stamp);
      }
      if (!follow.signal.aborted) error = 'the log stream ended';
    } catch (caught) {
      if (!follow.signal.aborted) {
        error = (caught as Error).message;
        options.onProblem?.(`log follow ended: ${error}`);
      }
    }
  })();

  return {
    async readPast(moment) {
      if (error !== null || caughtUpAt > moment) return true;
      if (!stamped) return false;
      if (mark === undefined || markMoment < moment) {
        // Where the log stands now, read to its end: everything written before `moment` is at or before it.
        markMoment = Date.now();
        mark = await adapter.logMark!(options.since).catch((failure: unknown) => {
          options.onProblem?.(`reading the log up to now failed (${(failure as Error).message}); trying again`);
          return undefined;
        });
      }
      return mark !== undefined && reached(read, mark);
    },
    get error() {
      return error;
    },
    get lastLineAt() {
      return lastLineAt;
    },
    async stop() {
      follow.abort();
      await done;
    },
  };
}
