import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { Output } from './output.js';

/** What every command gets: where to write, where it runs, and the config (loaded once, on first use). */
export interface CommandContext {
  out: Output;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Loads synup.yaml (or --config) and SYNUP_* overrides; throws a usage error on a bad file. */
  config(): LoadedConfig;
}

export function createContext(out: Output, cwd: string, env: NodeJS.ProcessEnv, configFile?: string): CommandContext {
  let loaded: LoadedConfig | undefined;
  return {
    out,
    cwd,
    env,
    config: () => (loaded ??= loadConfig({ file: configFile, cwd, env })),
  };
}
