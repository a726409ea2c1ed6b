import { defaultStateDir } from './schema.js';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load.js';

/**
 * The options every command works from, resolved once (like execa's normalizeOptions): the config file (-c,
 * SYNUP_CONFIG, ./synup.yaml, /etc/synup/synup.yaml) < SYNUP_* variables, with the defaults that depend on the
 * environment filled in (the state dir). Commands pass this one typed object down; a flag that overrides a setting
 * is applied by the command that has the flag. Only src/config reads the environment.
 */
export interface Settings extends LoadedConfig {
  /** state.dir, else $XDG_STATE_HOME/synup, else ~/.local/state/synup. */
  stateDir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export function resolveSettings(options: LoadConfigOptions & { cwd: string; env: NodeJS.ProcessEnv }): Settings {
  const loaded = loadConfig(options);
  return { ...loaded, stateDir: loaded.config.state.dir ?? defaultStateDir(options.env), cwd: options.cwd, env: options.env };
}
