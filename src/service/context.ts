import path from 'node:path';
import type { SynupConfig } from '../config/schema.js';
import { usageError } from '../errors.js';
import { processEnv } from '../config/environment.js';

/** What every adapter knows about the cell it drives, resolved once by `createAdapter`. */
export interface AdapterContext {
  cellDir: string;
  /** cell.name, or the cell dir's base name. */
  cellName: string;
  stateDir: string;
  /** Relative paths in service.* are resolved against this. */
  cwd: string;
  /** Environment for the tools adapters run (PATH lookup included). */
  env: NodeJS.ProcessEnv;
  /** health.port: the `{port}` of a process command. */
  port: number;
}

export interface CreateAdapterOptions {
  cellDir: string;
  stateDir: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export function adapterContext(config: SynupConfig, options: CreateAdapterOptions): AdapterContext {
  const cwd = options.cwd ?? process.cwd();
  return {
    cellDir: path.resolve(cwd, options.cellDir),
    cellName: config.cell.name ?? path.basename(path.resolve(cwd, options.cellDir)),
    stateDir: path.resolve(cwd, options.stateDir),
    cwd,
    env: options.env ?? processEnv(),
    port: config.health.port,
  };
}

/** A service.* path from synup.yaml, relative to where synup runs. */
export const resolvePath = (ctx: AdapterContext, file: string) => path.resolve(ctx.cwd, file);

type Sections = Required<Pick<SynupConfig['service'], 'systemd' | 'compose' | 'kubernetes'>>;

/** The adapter's own section of synup.yaml (service.<name>), or a usage error saying what to add there. */
export function adapterSection<K extends keyof Sections>(config: SynupConfig, name: K, add: string): Sections[K] {
  const own = config.service[name];
  if (!own) throw usageError(`service.adapter is ${name} but service.${name} is not set`, `add ${add} to synup.yaml`);
  return own as Sections[K];
}
