import { resolveSettings, type Settings } from '../config/settings.js';
import type { Output } from '../ui/output.js';

/** What every command gets: where to write, where it runs, and the config (loaded once, on first use). */
export interface CommandContext {
  out: Output;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Loads synup.yaml (or --config) and SYNUP_* overrides, resolves defaults; throws a usage error on a bad file. */
  config(): Settings;
}

export function createContext(out: Output, cwd: string, env: NodeJS.ProcessEnv, configFile?: string): CommandContext {
  let loaded: Settings | undefined;
  return {
    out,
    cwd,
    env,
    config: () => (loaded ??= resolveSettings({ file: configFile, cwd, env })),
  };
}
