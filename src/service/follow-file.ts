import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FollowFileOptions {
  /** Byte offset to start from. */
  from: number;
  signal: AbortSignal;
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
      } finally {
        await handle.close();
      }
    }
    await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
  }
}
