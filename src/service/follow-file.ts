import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FollowFileOptions {
  /** Byte offset to start from. */
  from: number;
  signal: AbortSignal;
  /** Called after every line up to the file's end (as it was when read) has been handed out. */
  onCaughtUp?(): void;
  pollMs?: number;
  /** Longer lines are cut into pieces of this many characters (memory stays bounded). */
  maxLineChars?: number;
}

const followDefaults = { pollMs: 200, maxLineChars: 64 * 1024, chunkBytes: 64 * 1024 } as const;

function* pieces(line: string, max: number): Generator<string> {
  if (line.length <= max) yield line;
  else for (let i = 0; i < line.length; i += max) yield line.slice(i, i + max);
}

/**
 * `tail -f` as an async iterable: every complete line appended to `file` from `from` on, until the signal aborts.
 * A missing file is waited for; a truncated one is read again from its start.
 */
export async function* followFile(file: string, options: FollowFileOptions): AsyncGenerator<string> {
  const pollMs = options.pollMs ?? followDefaults.pollMs;
  const maxLineChars = options.maxLineChars ?? followDefaults.maxLineChars;
  const buffer = Buffer.alloc(followDefaults.chunkBytes);
  let decoder = new StringDecoder('utf8');
  let position = options.from;
  let pending = '';
  while (!options.signal.aborted) {
    const handle = await open(file, 'r').catch(() => null);
    if (handle) {
      try {
        const { size } = await handle.stat();
        if (size < position) {
          position = 0;
          pending = '';
          decoder = new StringDecoder('utf8');
        }
        while (position < size && !options.signal.aborted) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) break;
          position += bytesRead;
          pending += decoder.write(buffer.subarray(0, bytesRead));
          for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
            yield* pieces(pending.slice(0, nl).replace(/\r$/, ''), maxLineChars);
            pending = pending.slice(nl + 1);
          }
          while (pending.length > maxLineChars) {
            yield pending.slice(0, maxLineChars);
            pending = pending.slice(maxLineChars);
          }
        }
        if (position >= size) options.onCaughtUp?.();
      } finally {
        await handle.close();
      }
    }
    await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}

/** Bytes read back from a log's end to find its last lines (bounded memory: long lines are cut at this size). */
const TAIL_WINDOW = 1024 * 1024;

/** The last `count` complete lines of `file` and its size (where following continues); none when it is missing. */
export function lastLines(file: string, count: number): { lines: string[]; end: number } {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return { lines: [], end: 0 };
  }
  try {
    const { size } = statSync(file);
    const from = Math.max(0, size - TAIL_WINDOW);
    const buffer = Buffer.alloc(size - from);
    readSync(fd, buffer, 0, buffer.length, from);
    const text = buffer.toString('utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = complete.split('\n').slice(0, -1);
    if (from > 0) lines.shift(); // the first one is cut
    return { lines: count === 0 ? [] : lines.slice(-count), end: from + Buffer.byteLength(complete) };
  } finally {
    closeSync(fd);
  }
}
