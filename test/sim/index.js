// Helpers for tests, the demo and benchmarks that drive the simulated cell (test/sim/cell.js) as a real process.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIM_CELL_JS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cell.js');

/** A free TCP port on loopback. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIM_CELL_JS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`sim ${args.join(' ')} exited ${code}: ${out}`));
    });
  });
}

/** Creates a cell's storage (first boot without serving): Synapse layout, `seed` nodes, at `version`. */
export async function createSimCell(dir, { version, seed = 0 }) {
  await run([dir, '--version', version, '--seed', String(seed), '--init-only']);
}

/** Starts the sim as a child; `waitForLog(re)` resolves on a matching log line; `stop()` SIGTERMs and waits. */
export function startSim({ dir, version, port, env = {}, args = [] }) {
  const child = spawn(process.execPath, [SIM_CELL_JS, dir, '--version', version, '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let log = '';
  const waiters = [];
  const onData = (d) => {
    log += d;
    for (const w of [...waiters]) if (w.re.test(log)) w.done();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    port,
    exited,
    log: () => log,
    waitForLog(re, timeoutMs = 30_000) {
      if (re.test(log)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const w = { re, done: () => { clearTimeout(timer); waiters.splice(waiters.indexOf(w), 1); resolve(); } };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in sim log:\n${log}`));
        }, timeoutMs);
        waiters.push(w);
        exited.then(() => setTimeout(() => {
          if (waiters.includes(w)) { clearTimeout(timer); waiters.splice(waiters.indexOf(w), 1); reject(new Error(`sim exited before ${re}:\n${log}`)); }
        }, 50));
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
