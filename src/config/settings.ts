import os from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load.js';
import type { SynupConfig } from './schema.js';

/**
 * The options every command works from, resolved once (like execa's normalizeOptions): the config file (-c,
 * SYNUP_CONFIG, ./synup.yaml, /etc/synup/synup.yaml) < SYNUP_* variables < the command's flags, with the defaults
 * that depend on the environment filled in (the state dir). Commands receive this one typed object and pass it down;
 * none merges a flag with the config itself. Only src/config reads the environment.
 */
export interface Settings extends LoadedConfig {
  /** state.dir, else $XDG_STATE_HOME/synup, else ~/.local/state/synup. */
  stateDir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** The command-line flags that override a setting, each with the key it sets (see applySettingFlags). */
export interface SettingFlags {
  /** --dir: cell.dir (relative to the cwd); refused with service.kubernetes.data: volume (that data is not local). */
  dir?: string;
  /** --changelog: changelog. */
  changelog?: string;
  /** --engine: backup.engine. */
  engine?: SynupConfig['backup']['engine'];
  /** --jobs: backup.jobs. */
  jobs?: number;
  /** --skip-dirs: added to backup.skipDirs. */
  skipDirs?: string[];
  /** --ignore-preflight: added to upgrade.ignorePreflight. */
  ignorePreflight?: string[];
}

/** The setting flags among a command's parsed options (commander names them as SettingFlags does). */
export function pickSettingFlags(options: Record<string, unknown>): SettingFlags {
  const { dir, changelog, engine, jobs, skipDirs, ignorePreflight } = options as SettingFlags;
  return { dir, changelog, engine, jobs, skipDirs, ignorePreflight };
}

/** The state dir: state.dir, else $XDG_STATE_HOME/synup, else ~/.local/state/synup. The one place it is decided. */
export function resolveStateDir(configured: string | undefined, env: NodeJS.ProcessEnv): string {
  return configured ?? path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'synup');
}

/** Settings from an already loaded config (a deployment's service has its own synup.yaml). */
export function settingsOf(loaded: LoadedConfig, cwd: string, env: NodeJS.ProcessEnv, flags: SettingFlags = {}): Settings {
  const config = applySettingFlags(loaded.config, flags, cwd);
  return { ...loaded, config, stateDir: resolveStateDir(config.state.dir, env), cwd, env };
}

export function resolveSettings(options: LoadConfigOptions & { cwd: string; env: NodeJS.ProcessEnv; flags?: SettingFlags }): Settings {
  return settingsOf(loadConfig(options), options.cwd, options.env, options.flags);
}

/** Flags over the loaded config: a flag given wins; list flags add to the configured list. */
function applySettingFlags(loaded: SynupConfig, flags: SettingFlags, cwd: string): SynupConfig {
  const config = structuredClone(loaded);
  if (flags.dir !== undefined) {
    // Kept as given (an empty --dir is refused as "no cell dir given" by resolveCellDir).
    config.cell.dir = flags.dir.trim() === '' ? flags.dir : path.resolve(cwd, flags.dir);
    if (config.service.adapter === 'kubernetes' && config.service.kubernetes?.data === 'volume') {
      throw usageError(`--dir names a local cell dir, but service.kubernetes.data is volume (the data is on the workload's volume)`, 'drop --dir, or set service.kubernetes.data: local');
    }
  }
  if (flags.changelog !== undefined) config.changelog = flags.changelog;
  if (flags.engine !== undefined) config.backup.engine = flags.engine;
  if (flags.jobs !== undefined) config.backup.jobs = flags.jobs;
  if (flags.skipDirs) config.backup.skipDirs = [...config.backup.skipDirs, ...flags.skipDirs];
  if (flags.ignorePreflight) config.upgrade.ignorePreflight = [...config.upgrade.ignorePreflight, ...flags.ignorePreflight];
  return config;
}
