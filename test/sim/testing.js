// vitest helpers for tests that drive sim cells: sims started through `useSims()` are killed after each test.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';
import { freePort, startSim } from './index.js';

/**
 * Registers an afterEach that SIGKILLs whatever the test's sims left running; `start` starts one on a free port.
 * @returns {{ start(options: Omit<Parameters<typeof startSim>[0], 'port'>): Promise<import('./index.js').SimProcess> }}
 */
export function useSims() {
  /** @type {import('./index.js').SimProcess[]} */
  const sims = [];
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((sim) => sim.stop('SIGKILL')));
  });
  return {
    async start(options) {
      const sim = startSim({ ...options, port: await freePort() });
      sims.push(sim);
      return sim;
    },
  };
}

/**
 * sha256 of every file under `dir` except lock.mdb (LMDB rewrites its reader table on every open): to show that
 * something left the data exactly as it was.
 * @param {string} dir
 * @returns {Record<string, string>}
 */
export function fileDigests(dir) {
  const files = readdirSync(dir, { recursive: true }).map(String).filter((f) => statSync(path.join(dir, f)).isFile() && path.basename(f) !== 'lock.mdb');
  return Object.fromEntries(files.sort().map((f) => [f, createHash('sha256').update(readFileSync(path.join(dir, f))).digest('hex')]));
}

/**
 * A sim's log lines as bare messages: without Synapse's "2024-… [LEVEL] " prefix and " [file.py:func:…]" suffix.
 * @param {string} log
 * @returns {string[]}
 */
export function logMessages(log) {
  return log
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\w+\] /, '').replace(/ \[[\w.]+\.py:\w+:MainThread:MainProcess\]$/, ''));
}
