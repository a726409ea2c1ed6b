import { appendFileSync, cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { createAdapter } from '../src/service/index.js';
import type { ServiceAdapter } from '../src/service/adapter.js';
import { readCellInfo } from '../src/lmdb/cellinfo.js';
import { createSimCell, freePort, simRequest, SIM_CELL_JS } from './sim/index.js';
import { repoRoot, synup, tempDir } from './helpers.js';

const SIM_CHANGELOG = path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst');
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
  version(name: string): Promise<string | null>;
  active(name: string): Promise<boolean>;
  /** Rewrites a service's synup.yaml with another environment for its process (e.g. a fault, or none). */
  setProcessEnv(name: string, env: Record<string, string>): void;
  stop(): Promise<void>;
}

/**
 * A deployment of real sim cells served by the process adapter: axon00 (standalone), cortex00 (leader) and cortex01,
 * its mirror made from a copy of cortex00 with `mirror:` set to cortex00's URL. Each has its own synup.yaml.
 */
export async function startDeployment(options: { version: string; seed?: number; migrationMs?: number; processEnv?: Record<string, Record<string, string>>; promotion?: 'graceful' | 'failure' }): Promise<DeployHarness> {
  const work = tempDir('synup-deploy-e2e-');
  const names = ['axon00', 'cortex00', 'cortex01'];
  await createSimCell(path.join(work, 'axon00'), { version: options.version, seed: options.seed ?? 300 });
  await createSimCell(path.join(work, 'cortex00'), { version: options.version, seed: options.seed ?? 300 });
  cpSync(path.join(work, 'cortex00'), path.join(work, 'cortex01'), { recursive: true });
  const services: Record<string, DeployedService> = {};
  for (const name of names) services[name] = { name, dir: path.join(work, name), port: await freePort(), configFile: path.join(work, `${name}.yaml`), adapter: undefined as unknown as ServiceAdapter };
  appendFileSync(path.join(services.cortex01!.dir, 'cell.yaml'), `mirror: https://127.0.0.1:${services.cortex00!.port}/\n`);
  const writeConfig = (s: DeployedService, env: Record<string, string>) =>
    writeFileSync(
      s.configFile,
      stringify({
        cell: { name: s.name, dir: `./${s.name}` },
        changelog: SIM_CHANGELOG,
        state: { dir: './state' },
        backup: { dir: `./backups/${s.name}`, maxAge: '1h' },
        service: { adapter: 'process', stopTimeout: '5s', process: { command: [process.execPath, path.join(SIM, 'cell.js'), '{dir}', '--version', '{version}', '--port', '{port}', '--migration-ms', String(options.migrationMs ?? 600)], env } },
        health: { port: s.port, startTimeout: '20s' },
      }),
    );
  for (const s of Object.values(services)) {
    writeConfig(s, options.processEnv?.[s.name] ?? {});
    s.adapter = createAdapter(loadConfig({ file: s.configFile, cwd: work }).config, { cellDir: s.dir, stateDir: path.join(work, 'state'), cwd: work });
  }
  for (const name of ['axon00', 'cortex00', 'cortex01']) {
    const s = services[name]!;
    await s.adapter.start(options.version);
    // Until it answers /api/v1/active (a mirror: false), at most 30 s.
    for (let i = 0; ; i++) {
      const answered = await simRequest({ dir: s.dir, port: s.port, path: '/api/v1/active', timeoutMs: 1000 }).then(() => true, () => false);
      if (answered) break;
      if (i > 300) throw new Error(`${name} did not answer on port ${s.port} within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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
        promote: [process.execPath, path.join(SIM, 'promote.js'), '{dir}', '{port}', ...(options.promotion === 'failure' ? ['--failure'] : [])],
        promotion: options.promotion ?? 'graceful',
        catchUpTimeout: '30s',
      },
      services: [
        { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', url: `https://127.0.0.1:${services.cortex00!.port}/` },
        { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00', url: `https://127.0.0.1:${services.cortex01!.port}/` },
        { name: 'axon00', kind: 'axon', config: 'axon00.yaml' },
      ],
    }),
  );
  return {
    work,
    file,
    services,
    run: (args, env = {}) => synup(args, { cwd: work, env: { CI: 'true', ...env }, timeout: 240_000 }),
    version: async (name) => (await readCellInfo(services[name]!.dir)).cellVersion,
    active: async (name) => (await simRequest({ dir: services[name]!.dir, port: services[name]!.port, path: '/api/v1/active' })).json.result.active === true,
    setProcessEnv: (name, env) => writeConfig(services[name]!, env),
    stop: async () => {
      for (const s of Object.values(services)) if (existsSync(s.dir)) await s.adapter.stop({ timeoutMs: 5000 }).catch(() => undefined);
    },
  };
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
