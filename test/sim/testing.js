// vitest helpers for tests that drive sim cells: sims started through `useSims()` are killed after each test.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';
import { freePort, startSim } from './index.js';

/**
 * Registers an afterEach that SIGKILLs whatever the test's sims left running; `start` starts one on a free port
 * (`port: null`: without --port, the conf files decide).
 * @returns {{ start(options: Omit<Parameters<typeof startSim>[0], 'port'> & { port?: null }): Promise<import('./index.js').SimProcess> }}
 */
export function useSims() {
  /** @type {import('./index.js').SimProcess[]} */
  const sims = [];
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((sim) => sim.stop('SIGKILL')));
  });
  return {
    async start(options) {
      const sim = startSim({ ...options, port: options.port === null ? null : await freePort() });
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

/**
 * The TCP ports process `pid` listens on (IPv4 and IPv6), from /proc: its socket fds' inodes among the LISTEN sockets
 * of /proc/net/tcp{,6}. Linux only.
 * @param {number} pid
 * @returns {number[]} sorted
 */
export function listeningPorts(pid) {
  const fds = path.join('/proc', String(pid), 'fd');
  /** @param {string} fd */
  const target = (fd) => {
    try {
      return readlinkSync(path.join(fds, fd));
    } catch {
      return ''; // closed since the listing
    }
  };
  const inodes = new Set(readdirSync(fds).map((fd) => /^socket:\[(\d+)\]$/.exec(target(fd))?.[1]).filter(Boolean));
  const ports = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; st 0A is LISTEN; field 9 is the inode
      if (fields[3] === '0A' && inodes.has(fields[9])) ports.push(parseInt(fields[1].split(':')[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}
