// A real Cortex parses Storm in a process pool (synapse/lib/processpool.py: a forkserver) that it starts on the first
// query after a start: that query waits 1.2–1.5 s on the lab's real Cortex, every later one ~milliseconds. Client
// writes, storm/call and the model migrations (runStorm) are all Storm, so whichever comes first pays.
import { setTimeout as sleep } from 'node:timers/promises';

/** @typedef {{ ready: () => Promise<void> }} StormPool */

/** @param {number} startMs @returns {StormPool} */
export function stormPool(startMs) {
  /** @type {Promise<void> | null} */
  let started = null;
  return { ready: () => (started ??= sleep(startMs).then(() => undefined)) };
}
