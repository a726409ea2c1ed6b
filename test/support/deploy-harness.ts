import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterEach, expect } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { createAdapter } from '../../src/service/index.js';
import type { ServiceAdapter } from '../../src/service/adapter.js';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { createSimCell, freePort, inspectSimCell, simRequest, SIM_CELL_JS } from '../sim/index.js';
import { repoRoot, synup, synupBin, tempDir } from './helpers.js';
import { budgetSetting, waitFor } from './budget.js';
import { killShadows, ONLINE_PASSWORD, SIM_CHANGELOG } from './upgrade-harness.js';

const SIM = path.join(repoRoot, 'test', 'sim');

export interface DeployedService {
  name: string;
  dir: string;
  port: number;
  configFile: string;
  adapter: ServiceAdapter;
}

export interface DeployHarness {
  work: string;
  file: string;
  services: Record<string, DeployedService>;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof synup>;
  /** The same synup run, as a live child process: its stderr can be watched and it can be sent signals. */
  spawn(args: string[]): ResultPromise<{ reject: false; stdin: 'ignore' }>;
  version(name: string): Promise<string | null>;
  active(name: string): Promise<boolean>;
  /** Rewrites a service's synup.yaml with another environment for its process (e.g. a fault, or none). */
  setProcessEnv(name: string, env: Record<string, string>): void;
  stop(): Promise<void>;
}

const started: DeployHarness[] = [];
// Every deployment a test started is stopped after it (before helpers.ts removes its temp dirs: hooks run in reverse).
afterEach(async () => {
  for (const harness of started.splice(0)) await harness.stop();
});

/**
 * A deployment of real sim cells served by the process adapter: axon00 (standalone), cortex00 (leader) and its
 * mirrors cortex01… (`mirrors`, default 1), made from a copy of cortex00 with `mirror:` set to cortex00's URL — or,
 * with `aha`, to the leader's alias `aha://cortex/` (test/sim/replica.js's AHA in miniature). Each has its own
 * synup.yaml. `promote`: the mirror marked `promote: true`; `promoteHoldMs`: the promote command takes that long; `promoteMark`: its --mark file;
 * `jsonstor`: also jsonstor00, standalone, a second lane in axon00's tier; `migrationMsOf`: per service --migration-ms.
 */
export async function startDeployment(options: { version: string; seed?: number; migrationMs?: number; processEnv?: Record<string, Record<string, string>>; promotion?: 'graceful' | 'failure'; mirrors?: number; aha?: boolean; promote?: string; promoteHoldMs?: number; promoteMark?: string; jsonstor?: boolean; migrationMsOf?: Record<string, number>; onlineDefrag?: string[]; standaloneCortex?: boolean }): Promise<DeployHarness> {
  const work = tempDir('synup-deploy-e2e-');
  const mirrors = Array.from({ length: options.mirrors ?? 1 }, (_, i) => `cortex${String(i + 1).padStart(2, '0')}`);
  const standalone = ['axon00', ...(options.jsonstor ? ['jsonstor00'] : []), ...(options.standaloneCortex ? ['cortex10'] : [])];
  const names = [...standalone, 'cortex00', ...mirrors];
  await Promise.all([...standalone, 'cortex00'].map((name) => createSimCell(path.join(work, name), { version: options.version, seed: options.seed ?? 300 })));
  if (options.aha) {
    mkdirSync(path.join(work, 'aha'));
    appendFileSync(path.join(work, 'cortex00', 'cell.yaml'), `aha:leader: cortex\nsim:aha: ${path.join(work, 'aha')}\n`);
  }
  for (const m of mirrors) cpSync(path.join(work, 'cortex00'), path.join(work, m), { recursive: true });
  const services: Record<string, DeployedService> = {};
  for (const name of names) services[name] = { name, dir: path.join(work, name), port: await freePort(), configFile: path.join(work, `${name}.yaml`), adapter: undefined as unknown as ServiceAdapter };
  for (const m of mirrors) appendFileSync(path.join(services[m]!.dir, 'cell.yaml'), `mirror: ${options.aha ? 'aha://cortex/' : `https://127.0.0.1:${services.cortex00!.port}/`}\n`);
  // Services upgraded with the online defrag: a telepath listener for their shadow, and a password for it to log in.
  const online = new Set(options.onlineDefrag ?? []);
  for (const name of online) appendFileSync(path.join(services[name]!.dir, 'cell.yaml'), `dmon:listen: tcp://127.0.0.1:${await freePort()}/\n`);
  const writeConfig = (s: DeployedService, env: Record<string, string>) =>
    writeFileSync(
      s.configFile,
      stringify({
        cell: { name: s.name, dir: `./${s.name}` },
        changelog: SIM_CHANGELOG,
        state: { dir: './state' },
        backup: { dir: `./backups/${s.name}`, maxAge: '1h' },
        service: { adapter: 'process', stopTimeout: '5s', process: { command: [process.execPath, path.join(SIM, 'cell.js'), '{dir}', '--version', '{version}', '--port', '{port}', '--migration-ms', String(options.migrationMsOf?.[s.name] ?? options.migrationMs ?? 600)], env: online.has(s.name) ? { ...env, SYN_SIM_PASSWORD: ONLINE_PASSWORD } : env } },
        health: { port: s.port, startTimeout: budgetSetting(20), ...(online.has(s.name) ? { password: ONLINE_PASSWORD } : {}) },
        ...(online.has(s.name) ? { upgrade: { defrag: 'online' } } : {}),
      }),
    );
  for (const s of Object.values(services)) {
    writeConfig(s, options.processEnv?.[s.name] ?? {});
    s.adapter = createAdapter(loadConfig({ file: s.configFile, cwd: work }).config, { cellDir: s.dir, stateDir: path.join(work, 'state'), cwd: work });
  }
  // All at once; each until it answers /api/v1/active (a mirror: false), within a load-scaled 30 s. One that does not:
  // the others are stopped again before the error is thrown (the harness is not registered yet, so no afterEach would).
  const stopAll = () => Promise.all(Object.values(services).map((s) => (existsSync(s.dir) ? s.adapter.stop({ timeoutMs: 5000 }).catch(() => undefined) : undefined)));
  const starts = await Promise.allSettled(
    names.map(async (name) => {
      const s = services[name]!;
      await s.adapter.start(options.version);
      await waitFor(() => simRequest({ dir: s.dir, port: s.port, path: '/api/v1/active', timeoutMs: 1000 }).then(() => true, () => false), `${name} to answer on port ${s.port}`, { timeoutMs: 30_000, intervalMs: 100 });
    }),
  );
  const failed = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll();
    throw failed.reason;
  }
  const file = path.join(work, 'deployment.yaml');
  writeFileSync(
    file,
    stringify({
      name: 'lab',
      changelog: SIM_CHANGELOG,
      state: { dir: './state' },
      mirror: {
        nexusIndex: [process.execPath, path.join(SIM, 'nexus-index.js'), '{dir}', '{port}'],
        promote: [process.execPath, path.join(SIM, 'promote.js'), '{dir}', '{port}', ...(options.promotion === 'failure' ? ['--failure'] : []), ...(options.promoteHoldMs ? ['--hold-ms', String(options.promoteHoldMs)] : []), ...(options.promoteMark ? ['--mark', options.promoteMark] : [])],
        promotion: options.promotion ?? 'graceful',
        catchUpTimeout: '30s',
      },
      services: [
        { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', url: `https://127.0.0.1:${services.cortex00!.port}/` },
        ...mirrors.map((m) => ({ name: m, kind: 'cortex', config: `${m}.yaml`, mirrorOf: 'cortex00', url: `https://127.0.0.1:${services[m]!.port}/`, ...(options.promote === m ? { promote: true } : {}) })),
        { name: 'axon00', kind: 'axon', config: 'axon00.yaml' },
        ...(options.jsonstor ? [{ name: 'jsonstor00', kind: 'jsonstor', config: 'jsonstor00.yaml' }] : []),
        ...(options.standaloneCortex ? [{ name: 'cortex10', kind: 'cortex', config: 'cortex10.yaml' }] : []),
      ],
    }),
  );
  const harness: DeployHarness = {
    work,
    file,
    services,
    run: (args, env = {}) => synup(args, { cwd: work, env: { CI: 'true', ...env }, timeout: 240_000 }),
    // No forced SIGKILL 5 s after a test's signal (execa's default): synup may rightly take longer to finish an action.
    spawn: (args) => execa(process.execPath, [synupBin, ...args], { cwd: work, env: { CI: 'true', NO_COLOR: '1' }, reject: false, stdin: 'ignore', timeout: 240_000, forceKillAfterDelay: false }),
    version: async (name) => (await readCellInfo(services[name]!.dir)).cellVersion,
    active: async (name) => (await simRequest({ dir: services[name]!.dir, port: services[name]!.port, path: '/api/v1/active' })).json.result.active === true,
    setProcessEnv: (name, env) => writeConfig(services[name]!, env),
    stop: async () => {
      await stopAll();
      killShadows(path.join(work, 'state'));
    },
  };
  started.push(harness);
  return harness;
}

/** Every acknowledged write is on each of `cells` once their nexus indexes meet. */
export async function expectEveryAckedWriteOn(harness: DeployHarness, cells: string[], acked: string[]): Promise<void> {
  await untilSameNexus(cells.map((name) => harness.services[name]!));
  for (const name of cells) {
    const have = new Set((await inspectSimCell(harness.services[name]!.dir, { names: true })).names);
    expect(acked.filter((w) => !have.has(w)), `acknowledged writes missing on ${name}`).toEqual([]);
  }
}

/** The `mirror:` a sim cell follows now (cell.mods.yaml, written by promotions, over cell.yaml). */
export function mirrorOf(dir: string): string | null {
  let url: string | null = null;
  for (const name of ['cell.yaml', 'cell.mods.yaml']) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    const match = /^\{? ?mirror: *([^ }\n]*)/m.exec(readFileSync(file, 'utf8'));
    if (match) url = match[1] === 'null' ? null : match[1]!;
  }
  return url;
}

/** Resolves once `process`'s stderr has printed a line matching `pattern` (rejects when it exits first). */
export function untilStderr(process: ResultPromise, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const match = text.split('\n').find((line) => pattern.test(line));
      if (match === undefined) return;
      process.stderr!.off('data', onData);
      resolve(match);
    };
    process.stderr!.on('data', onData);
    void process.then(() => reject(new Error(`synup exited before printing ${pattern}:\n${text.slice(-2000)}`)));
  });
}

/**
 * A client writing one node every `everyMs` (POST /api/v1/sim/nodes, as bench/deploy-writes.mjs does) to whichever
 * of `cells` takes it, the last one that did first; `pause()`/`resume()` hold it between writes.
 */
export function startWriter(cells: DeployedService[], everyMs = 20) {
  const agents = new Map(cells.map((c) => [c, new https.Agent({ keepAlive: true, ca: readFileSync(path.join(c.dir, 'sslcert.pem')) })]));
  const post = (cell: DeployedService, name: string) =>
    new Promise<boolean>((resolve) => {
      const req = https.request({ host: '127.0.0.1', port: cell.port, path: '/api/v1/sim/nodes', method: 'POST', agent: agents.get(cell), timeout: 2000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end(JSON.stringify({ name }));
    });
  const acked: string[] = [];
  let failed = 0;
  let current = 0;
  let stopped = false;
  let paused = false;
  let onPaused: (() => void) | null = null;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const tick = Date.now();
      onPaused?.();
      onPaused = null;
      if (!paused) {
        let ok = false;
        for (let k = 0; k < cells.length && !ok; k++) {
          const at = (current + k) % cells.length;
          if (await post(cells[at]!, `w${i}`)) [ok, current] = [true, at];
        }
        if (ok) acked.push(`w${i}`);
        else failed++;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - tick))));
    }
  })();
  return {
    acked,
    /** Resolves once the write under way (if any) has ended: `acked` then stays as it is until resume(). */
    pause: () =>
      new Promise<void>((resolve) => {
        paused = true;
        onPaused = resolve;
      }),
    resume: () => void (paused = false),
    async stop() {
      stopped = true;
      await done;
      for (const agent of agents.values()) agent.destroy();
      return { acked, failed };
    },
  };
}

/** Polls every cell's nexus index until all are equal (a mirror pulls every 100 ms); at most 20 s. */
export async function untilSameNexus(cells: DeployedService[]): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const indexes = await Promise.all(cells.map((c) => simRequest({ dir: c.dir, port: c.port, path: '/api/v1/sim/nexus/indx', timeoutMs: 2000 }).then((r) => r.json.result.indx as number, () => -1)));
    if (indexes.every((x) => x >= 0 && x === indexes[0])) return indexes[0]!;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the cells' nexus indexes did not meet within 20 s`);
}

/** A client write to a sim leader (POST /api/v1/sim/nodes); resolves its HTTP status. */
export function simWrite(dir: string, port: number, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/api/v1/sim/nodes', method: 'POST', ca: readFileSync(path.join(dir, 'sslcert.pem')) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ name }));
  });
}

/**
 * Past the checks before the run (which refuse a mirror following another address): while cortex01 is stopped for
 * its upgrade, it is pointed at a port nobody listens on and its leader takes a write it will never pull.
 */
export async function missesAWrite(run: ReturnType<DeployHarness['spawn']>, leader: DeployedService, mirror: DeployedService): Promise<void> {
  await untilStderr(run, /^\[deploy\/upgrade-mirror:cortex01\] Upgrade/);
  await untilStderr(run, /^\[upgrade\/stop\] completed/);
  const yaml = path.join(mirror.dir, 'cell.yaml');
  writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/mirror: .*/, 'mirror: https://127.0.0.1:9/'));
  const status = await simWrite(leader.dir, leader.port, 'one');
  if (status !== 200) throw new Error(`the write to cortex00 got HTTP ${status}`);
}
