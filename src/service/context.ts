import path from 'node:path';
import type { SynupConfig } from '../config/schema.js';
import { usageError } from '../errors.js';
import { processEnv } from '../config/environment.js';

/** What every adapter knows about the cell it drives: the values resolved by the caller (runner/session.ts), as given. */
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
  /** The resolved cell dir (resolveCellDir), or a remote cell's key dir. */
  cellDir: string;
  /** Default: cellNameOf(config, cellDir). */
  cellName?: string;
  stateDir: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** The cell's name in file names and messages: cell.name, else the cell dir's base name. */
export const cellNameOf = (config: SynupConfig, cellDir: string): string => config.cell.name ?? path.basename(cellDir);

export function adapterContext(config: SynupConfig, options: CreateAdapterOptions): AdapterContext {
  return {
    cellDir: options.cellDir,
    cellName: options.cellName ?? cellNameOf(config, options.cellDir),
    stateDir: options.stateDir,
    cwd: options.cwd ?? process.cwd(),
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
