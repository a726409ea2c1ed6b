import type { LogMark, StampedLine } from './adapter.js';

/**
 * Terminal control sequences: CSI (`ESC[2K`, colours), OSC, two-byte escapes, and the other C0 controls but tab.
 * `docker compose logs` (2.26) starts every line with `ESC[2K`, even with `--ansi never` (issue 20).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

export const stripControl = (line: string): string => line.replace(CONTROL, '');

/** RFC 3339 with any fraction and zone, as `docker logs --timestamps` and `kubectl logs --timestamps` prefix lines. */
const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)(?: |$)/;

/**
 * A stamp as one sortable string: UTC, nanoseconds, fixed width (`2026-12-06T13:00:00.123456789Z`), so stamps of one
 * log source compare as strings.
 */
export function normalStamp(seconds: string, fraction: string | undefined, zone: string): string | null {
  const ms = Date.parse(`${seconds}${zone === 'Z' ? 'Z' : zone.replace(/^([+-]\d\d)(\d\d)$/, '$1:$2')}`);
  if (Number.isNaN(ms)) return null;
  return `${new Date(ms).toISOString().slice(0, 19)}.${(fraction ?? '').padEnd(9, '0')}Z`;
}

/** `2026-12-06T13:00:00.123456789Z text` (after any control sequences) → its stamp and text; no stamp: the line as is. */
export function splitStamp(raw: string): StampedLine {
  const line = stripControl(raw);
  const match = RFC3339.exec(line);
  const stamp = match ? normalStamp(match[1]!, match[2], match[3]!) : null;
  return stamp ? { text: line.slice(match![0].length), stamp } : { text: line, stamp: null };
}

/** One `journalctl -o json` entry → its message and `__REALTIME_TIMESTAMP` (µs since the epoch) as a stamp. */
export function journalLine(json: string): StampedLine | null {
  let entry: { MESSAGE?: unknown; __REALTIME_TIMESTAMP?: unknown };
  try {
    entry = JSON.parse(json) as typeof entry;
  } catch {
    return null;
  }
  const message = entry.MESSAGE;
  // journald gives a message that is not valid UTF-8 as an array of bytes
  const text = typeof message === 'string' ? message : Array.isArray(message) ? Buffer.from(message as number[]).toString('utf8') : '';
  const micros = typeof entry.__REALTIME_TIMESTAMP === 'string' && /^\d+$/.test(entry.__REALTIME_TIMESTAMP) ? BigInt(entry.__REALTIME_TIMESTAMP) : null;
  if (micros === null) return { text: stripControl(text), stamp: null };
  const seconds = new Date(Number(micros / 1_000_000n) * 1000).toISOString().slice(0, 19);
  return { text: stripControl(text), stamp: `${seconds}.${String(micros % 1_000_000n).padStart(6, '0')}000Z` };
}

/** Where a log read to its end stands: its last stamp and how many lines carry it; null when it held no stamped line. */
export function markOf(lines: Iterable<StampedLine>): LogMark | null {
  let mark: LogMark | null = null;
  for (const { stamp } of lines) {
    if (stamp === null) continue;
    if (mark === null || stamp > mark.stamp) mark = { stamp, count: 1 };
    else if (stamp === mark.stamp) mark.count++;
  }
  return mark;
}

/** The same, one line at a time, for a follower: what it has handed out so far. */
export function advance(mark: LogMark | null, stamp: string | null): LogMark | null {
  if (stamp === null) return mark;
  if (mark === null || stamp > mark.stamp) return { stamp, count: 1 };
  return stamp === mark.stamp ? { stamp, count: mark.count + 1 } : mark;
}

/** The follower has handed out every line the bounded read saw (`mark` null: that read held no line). */
export const reached = (read: LogMark | null, mark: LogMark | null): boolean =>
  mark === null || (read !== null && (read.stamp > mark.stamp || (read.stamp === mark.stamp && read.count >= mark.count)));
