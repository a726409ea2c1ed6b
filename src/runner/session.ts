import path from 'node:path';
import type { CommandContext } from '../cli/context.js';
import { resolveCellDir } from '../config/cell-dir.js';
import { defaultStateDir, type SynupConfig } from '../config/schema.js';
import { createAdapter } from '../service/index.js';
import type { ServiceAdapter } from '../service/adapter.js';
import { checkActive, readServiceVersion, waitForActive } from '../health/index.js';
import { errorMessage } from '../errors.js';
import type { HealthProbe } from './context.js';

/** Everything a runner command needs about one cell, resolved once from flags > SYNUP_* > synup.yaml > defaults. */
export interface CellSession {
  config: SynupConfig;
  cellDir: string;
  cellName: string;
  stateDir: string;
  adapter: ServiceAdapter;
  health: HealthProbe;
}

export function openCellSession(ctx: CommandContext, options: { dir?: string; allowMissing?: boolean }): CellSession {
  const { config } = ctx.config();
  const cellDir = resolveCellDir(options.dir ?? config.cell.dir, ctx.cwd, { allowMissing: options.allowMissing });
  const stateDir = config.state.dir ?? defaultStateDir(ctx.env);
  const cellName = config.cell.name ?? path.basename(cellDir);
  const adapter = createAdapter(config, { cellDir, stateDir, cwd: ctx.cwd, env: ctx.env });
  return { config, cellDir, cellName, stateDir, adapter, health: healthProbe(config, cellDir) };
}

export function healthProbe(config: SynupConfig, cellDir: string): HealthProbe {
  const target = {
    host: config.health.host,
    port: config.health.port,
    cellDir,
    ca: config.health.ca,
    insecure: config.health.insecure,
  };
  return {
    waitForActive: ({ deadlineMs, signal }) => waitForActive({ ...target, deadlineMs, signal }).then(() => undefined),
    check: () => checkActive(target).catch((error: unknown) => ({ active: false, detail: errorMessage(error) })),
    readVersion: () => readServiceVersion({ ...target, username: config.health.username, password: config.health.password }),
  };
}
