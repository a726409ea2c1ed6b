import { mkdirSync } from 'node:fs';
import { resolveCellDir } from '../config/cell-dir.js';
import type { SynupConfig } from '../config/schema.js';
import type { Settings } from '../config/settings.js';
import { createAdapter } from '../service/index.js';
import { cellNameOf } from '../service/context.js';
import { remoteCellKey } from '../service/kubernetes.js';
import type { ServiceAdapter } from '../service/adapter.js';
import { checkActive, readServiceVersion, waitForActive } from '../health/index.js';
import { errorMessage } from '../errors.js';
import { checkWithTool, waitWithTool } from '../health/tool.js';
import { healthToolCommand } from '../health/tool-command.js';
import type { HealthProbe } from './context.js';
import { unlessExited } from '../service/exit-watch.js';

/** Everything a runner command needs about one cell, from its settings (flags > SYNUP_* > synup.yaml > defaults). */
export interface CellSession {
  config: SynupConfig;
  cellDir: string;
  cellName: string;
  stateDir: string;
  adapter: ServiceAdapter;
  health: HealthProbe;
}

export function openCellSession(settings: Settings, options: { allowMissing?: boolean } = {}): CellSession {
  const { config, stateDir, cwd, env } = settings;
  const remoteKey = remoteCellKey(config, stateDir);
  if (remoteKey) mkdirSync(remoteKey, { recursive: true, mode: 0o700 });
  const cellDir = remoteKey ?? resolveCellDir(config.cell.dir, cwd, { allowMissing: options.allowMissing });
  // A cell on a volume is named after its workload (its key dir's name only says where synup keeps its state).
  const cellName = remoteKey ? (config.cell.name ?? config.service.kubernetes!.name) : cellNameOf(config, cellDir);
  const adapter = createAdapter(config, { cellDir, cellName, stateDir, cwd, env });
  return { config, cellDir, cellName, stateDir, adapter, health: healthProbe(config, cellDir, adapter, env) };
}

/**
 * How the runner and the service commands ask "is it up?": HTTPS /api/v1/active with the cell's certificate pinned
 * (health.check: https), or Synapse's healthcheck tool run through the adapter (health.check: tool).
 */
export function healthProbe(config: SynupConfig, cellDir: string, adapter: ServiceAdapter, env: NodeJS.ProcessEnv): HealthProbe {
  if (config.health.check === 'tool') return toolProbe(config, adapter, env);
  const target = {
    host: config.health.host,
    port: config.health.port,
    cellDir,
    ca: config.health.ca,
    insecure: config.health.insecure,
    passiveIsReady: config.cell.role === 'mirror',
  };
  return {
    // An instance synup started that exits ends the wait at once, with its last error line (unlessExited).
    waitForActive: ({ deadlineMs, signal }) => unlessExited(adapter, signal, (watched) => waitForActive({ ...target, deadlineMs, signal: watched }).then(() => undefined)),
    check: () => checkActive(target).catch((error: unknown) => ({ active: false, detail: errorMessage(error) })),
    readVersion: () => readServiceVersion({ ...target, username: config.health.username, password: config.health.password }),
  };
}

function toolProbe(config: SynupConfig, adapter: ServiceAdapter, env: NodeJS.ProcessEnv): HealthProbe {
  const target = async () => ({ argv: await adapter.execArgv(healthToolCommand(config, adapter)), env: { ...env, ...config.health.tool.env }, timeoutMs: config.health.tool.timeout });
  return {
    waitForActive: ({ deadlineMs, signal }) => unlessExited(adapter, signal, async (watched) => waitWithTool(await target(), { deadlineMs, signal: watched })),
    check: async () => checkWithTool(await target()).catch((error: unknown) => ({ active: false, detail: errorMessage(error) })),
    // The healthcheck does not tell the version: confirm then relies on the data's cell:version.
    readVersion: async () => null,
  };
}
