import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll with backoff, the one module for it: asks `done` until it says yes or the deadline passes, pausing twice as
 * long each time (from `firstMs` up to `maxMs`), never past the deadline. true when done, false at the deadline.
 */
export async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs: number, pauses: { firstMs?: number; maxMs?: number } = {}): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = pauses.firstMs ?? 20; !(await done()); pause = Math.min(pause * 2, pauses.maxMs ?? 200)) {
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())));
  }
  return true;
}
