import { hasConfigSource } from './load.js';
import { resolveSettings, resolveStateDir, type SettingFlags, type Settings } from './settings.js';
import type { Output } from '../ui/output.js';

/** What every command gets: where to write, where it runs, and its settings (resolved once, on first use). */
export interface CommandContext {
  out: Output;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** synup.yaml (or --config) < SYNUP_* < the command's setting flags, defaults resolved; a usage error on a bad file. */
  config(): Settings;
  /** The settings when a file or a SYNUP_* variable configures synup, else null: all defaults, nothing to load or validate. */
  configIfAny(): Settings | null;
  /** state.dir or its default, without loading the config when nothing configures synup. */
  stateDir(): string;
  /** --dir, else cell.dir from the config (loaded only when something configures synup), else none. */
  cellDir(): string | undefined;
  /** --changelog, else changelog: from the config (loaded only when something configures synup), else none. */
  changelog(): string | undefined;
}

export function createContext(out: Output, cwd: string, env: NodeJS.ProcessEnv, configFile?: string, flags: SettingFlags = {}): CommandContext {
  let loaded: Settings | undefined;
  const config = () => (loaded ??= resolveSettings({ file: configFile, cwd, env, flags }));
  const configIfAny = () => (loaded ?? hasConfigSource({ file: configFile, cwd, env }) ? config() : null);
  return {
    out,
    cwd,
    env,
    config,
    configIfAny,
    stateDir: () => configIfAny()?.stateDir ?? resolveStateDir(undefined, env),
    cellDir: () => flags.dir ?? configIfAny()?.config.cell.dir,
    changelog: () => flags.changelog ?? configIfAny()?.config.changelog,
  };
}
