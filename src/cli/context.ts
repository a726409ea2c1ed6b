import { hasConfigSource } from '../config/load.js';
import { defaultStateDir } from '../config/schema.js';
import { resolveSettings, type Settings } from '../config/settings.js';
import type { Output } from '../ui/output.js';

/** What every command gets: where to write, where it runs, and the config (loaded once, on first use). */
export interface CommandContext {
  out: Output;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Loads synup.yaml (or --config) and SYNUP_* overrides, resolves defaults; throws a usage error on a bad file. */
  config(): Settings;
  /** The config when a file or a SYNUP_* variable configures synup, else null: all defaults, nothing to load or validate. */
  configIfAny(): Settings | null;
  /** state.dir or its default, without loading the config when nothing configures synup. */
  stateDir(): string;
}

export function createContext(out: Output, cwd: string, env: NodeJS.ProcessEnv, configFile?: string): CommandContext {
  let loaded: Settings | undefined;
  const config = () => (loaded ??= resolveSettings({ file: configFile, cwd, env }));
  const configIfAny = () => (loaded ?? hasConfigSource({ file: configFile, cwd, env }) ? config() : null);
  return {
    out,
    cwd,
    env,
    config,
    configIfAny,
    stateDir: () => configIfAny()?.stateDir ?? defaultStateDir(env),
  };
}
