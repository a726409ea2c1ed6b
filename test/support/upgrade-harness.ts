import { appendFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createAdapter } from '../../src/service/index.js';
import type { ServiceAdapter } from '../../src/service/adapter.js';
import { digestCell } from '../../src/backup/digest.js';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { repoRoot, synup, synupInProcess, tempDir } from './helpers.js';
import { budgetSetting } from './budget.js';
import { readPidRecord } from '../../src/service/pidfile.js';
import { signalProcess } from '../../src/proc.js';

export const SIM_CHANGELOG = path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst');

export interface Harness {
  work: string;
  cellDir: string;
  stateDir: string;
  backupsDir: string;
  port: number;
  adapter: ServiceAdapter;
  run(args: string[], env?: Record<string, string>): ReturnType<typeof synup>;
  version(): Promise<string | null>;
  digest(): Promise<unknown>;
  /** Names next to the cell dir (to see synup's pre/failed/staging dirs). */
  siblings(): string[];
  stop(): Promise<void>;
}

/**
 * `<work>/synup.yaml` for the sim cell `<work>/cortex00` served by the process adapter on `port`, state in ./state,
 * backups in ./backups.
 */
export function writeSimServiceConfig(work: string, options: { port: number; processEnv?: Record<string, string>; runAs?: string[]; startTimeout?: string; extraYaml?: string }): void {
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {name: cortex00, dir: ./cortex00}',
      `changelog: ${JSON.stringify(SIM_CHANGELOG)}`,
      'state: {dir: ./state}',
      'backup: {dir: ./backups, maxAge: 1h}',
      'service:',
      '  adapter: process',
      '  stopTimeout: 5s',
      `  process: {command: [${(options.runAs ?? []).map((a) => JSON.stringify(a) + ', ').join('')}${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}'], env: ${JSON.stringify(options.processEnv ?? {})}}`,
      `health: {port: ${options.port}, startTimeout: ${options.startTimeout ?? budgetSetting(15)}}`,
      options.extraYaml ?? '',
      '',
    ].join('\n'),
  );
}

const started: Harness[] = [];
// Every sim a test started is stopped after it (before helpers.ts removes its temp dirs: hooks run in reverse).
afterEach(async () => {
  for (const harness of started.splice(0)) await harness.stop();
});

/** A real sim cell served by the process adapter, a synup.yaml pointing at it, and a fresh verified backup. */
export async function startHarness(options: {
  version: string;
  seed?: number;
  backup?: boolean;
  extraYaml?: string;
  startTimeout?: string;
  processEnv?: Record<string, string>;
  /** argv put before the sim's in service.process.command (e.g. setpriv to run it as another user). */
  runAs?: string[];
  /** Called with the cell made, before the service is started. */
  beforeStart?: (paths: { work: string; cellDir: string }) => void;
}): Promise<Harness> {
  const work = tempDir('synup-e2e-');
  const cellDir = path.join(work, 'cortex00');
  const stateDir = path.join(work, 'state');
  const backupsDir = path.join(work, 'backups');
  const port = await freePort();
  await createSimCell(cellDir, { version: options.version, seed: options.seed ?? 500 });
  writeSimServiceConfig(work, { port, ...options });
  const { config } = loadConfig({ cwd: work });
  const adapter = createAdapter(config, { cellDir, stateDir, cwd: work });
  options.beforeStart?.({ work, cellDir });
  await adapter.start(options.version);
  const harness: Harness = {
    work,
    cellDir,
    stateDir,
    backupsDir,
    port,
    adapter,
    run: (args, env = {}) => synup(args, { cwd: work, env: { CI: 'true', ...env } }),
    version: async () => (await readCellInfo(cellDir)).cellVersion,
    digest: () => digestCell(cellDir, { skipDirs: ['tmp', 'sockets'] }),
    siblings: () => readdirSync(work).filter((n) => n.startsWith('cortex00')).sort(),
    stop: async () => {
      if (existsSync(cellDir)) await adapter.stop({ timeoutMs: 5000 }).catch(() => undefined);
    },
  };
  started.push(harness);
  if (options.backup ?? true) {
    const made = await synupInProcess(['backup', cellDir], { cwd: work, env: { CI: 'true' } });
    if (made.exitCode !== 0) throw new Error(`backup failed: ${made.stderr}`);
  }
  return harness;
}

/** The health password of an online-defrag harness: the sim asks it (SYN_SIM_PASSWORD), synup sends it. */
export const ONLINE_PASSWORD = 'shadow-secret';

/**
 * A harness whose cell can be defragmented online (issue 24): a telepath listener (`dmon:listen`) for the shadow to
 * follow, a password for it to log in with, and `upgrade.defrag: online`. Runs need `onlineEnv`.
 */
export async function startOnlineHarness(options: Parameters<typeof startHarness>[0] & { onlineYaml?: string }): Promise<Harness & { dmonPort: number }> {
  const dmonPort = await freePort();
  const harness = await startHarness({
    ...options,
    processEnv: { SYN_SIM_PASSWORD: ONLINE_PASSWORD, ...options.processEnv },
    extraYaml: [`upgrade: {defrag: online, onlineDefrag: {${options.onlineYaml ?? 'cutoverWait: 5s'}}}`, options.extraYaml ?? ''].join('\n'),
    beforeStart: (paths) => {
      appendFileSync(path.join(paths.cellDir, 'cell.yaml'), `dmon:listen: tcp://127.0.0.1:${dmonPort}/\n`);
      options.beforeStart?.(paths);
    },
  });
  const stopCell = harness.stop;
  harness.stop = async () => {
    await stopCell();
    killShadows(harness.stateDir);
  };
  return { ...harness, dmonPort };
}

export const onlineEnv = { SYNUP_HEALTH_PASSWORD: ONLINE_PASSWORD };

/** Shadow mirrors a failed test left running (their pid files are in the state dir): each whole process group. */
export function killShadows(stateDir: string): void {
  for (const file of existsSync(stateDir) ? readdirSync(stateDir).filter((f) => /\.shadow-.*\.pid$/.test(f)) : []) {
    const record = readPidRecord(path.join(stateDir, file));
    if (record && !record.stoppedAt) signalProcess(record.pid, 'SIGKILL', true);
  }
}
