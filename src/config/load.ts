import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { z } from 'zod';
import { SynupError, usageError } from '../errors.js';
import { readBoundedText } from '../fsutil.js';
import { configSchema, type SynupConfig } from './schema.js';

/** yaml is loaded (from its CommonJS build) only when there is a file to read. */
const require = createRequire(import.meta.url);

export const CONFIG_FILE = 'synup.yaml';
/** A synup.yaml is a few KiB; a config file (or deployment file) bigger than this is refused before it is read whole. */
export const MAX_CONFIG_BYTES = 2 ** 20;
/** The system-wide config, used when neither -c, SYNUP_CONFIG nor ./synup.yaml names one. */
export const SYSTEM_CONFIG_FILE = '/etc/synup/synup.yaml';

export interface LoadConfigOptions {
  /** Explicit --config path; must exist. */
  file?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The last place looked (default SYSTEM_CONFIG_FILE); a parameter so tests need not write /etc. */
  systemFile?: string;
}

export interface LoadedConfig {
  config: SynupConfig;
  /** The file it came from, or null when only defaults (and SYNUP_* variables) apply. */
  file: string | null;
}

/** Environment variables that override the file (setting flags override these: config/settings.ts); `path`: relative to the cwd. */
const envOverrides: Record<string, { keys: string[]; path: boolean }> = {
  SYNUP_CHANGELOG: { keys: ['changelog'], path: true },
  SYNUP_CELL_DIR: { keys: ['cell', 'dir'], path: true },
  SYNUP_STATE_DIR: { keys: ['state', 'dir'], path: true },
  SYNUP_BACKUP_DIR: { keys: ['backup', 'dir'], path: true },
  SYNUP_HEALTH_PASSWORD: { keys: ['health', 'password'], path: false },
};

/**
 * The config file: `-c`, else `SYNUP_CONFIG`, else ./synup.yaml, else /etc/synup/synup.yaml; null when none exists.
 * A named file (-c, SYNUP_CONFIG) must exist; the two default places are used only when present.
 */
export function findConfigFile(options: LoadConfigOptions = {}): string | null {
  const cwd = options.cwd ?? process.cwd();
  const named = options.file ?? (options.env ?? process.env).SYNUP_CONFIG;
  if (named) return path.resolve(cwd, named);
  for (const candidate of [path.join(cwd, CONFIG_FILE), options.systemFile ?? SYSTEM_CONFIG_FILE]) if (existsSync(candidate)) return candidate;
  return null;
}

/** Whether anything configures synup (a config file, or a SYNUP_* override): without, every setting is its default. */
export function hasConfigSource(options: LoadConfigOptions = {}): boolean {
  const env = options.env ?? process.env;
  return findConfigFile(options) !== null || Object.keys(envOverrides).some((name) => env[name] !== undefined && env[name] !== '');
}

/**
 * Reads the config file (see findConfigFile), applies SYNUP_* variables, validates.
 * A bad key names its path and what was expected.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  if (options.file !== undefined && options.file.trim() === '') {
    throw usageError('--config was given an empty path', 'pass the path of a synup.yaml, or drop -c to use ./synup.yaml');
  }
  const used = findConfigFile(options);
  const file = used ?? 'environment';
  const raw: unknown = used ? readYaml(used) : {};
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw usageError(`config ${file}: expected a mapping at the top level, received ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  }
  const merged = structuredClone(raw ?? {}) as Record<string, unknown>;
  // A relative path in a SYNUP_* variable is relative to where synup was started, like a flag's.
  for (const [name, { keys, path: isPath }] of Object.entries(envOverrides)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(merged, keys, isPath ? absolute(value, cwd) : value);
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) throw configError(used ?? 'environment', result.error);
  const config = result.data;
  if (used) resolvePaths(config, path.dirname(used));
  return { config, file: used };
}

function readYaml(file: string): unknown {
  const text = readBoundedText(file, {
    what: 'config',
    noun: 'a synup config',
    maxBytes: MAX_CONFIG_BYTES,
    hint: 'pass a synup.yaml (a regular file) with -c/--config or SYNUP_CONFIG',
    readHint: 'pass an existing file with -c/--config or SYNUP_CONFIG, or leave both unset to use ./synup.yaml or /etc/synup/synup.yaml',
  });
  const { parse: parseYaml, YAMLParseError } = require('yaml') as typeof import('yaml');
  try {
    return parseYaml(text);
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : String(error);
    throw usageError(`config ${file} is not valid YAML: ${detail}`);
  }
}

function configError(source: string, error: z.ZodError): SynupError {
  const issue = error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})` : '';
  return usageError(`config ${source}: ${where}: ${message}${more}`, 'see README.md "Configuration" for every key and its type');
}

function setPath(target: Record<string, unknown>, keys: string[], value: unknown): void {
  let node = target;
  for (const key of keys.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}

/** Relative paths in synup.yaml are relative to the file, not to wherever synup was started. */
const isUrl = (p: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(p);
const absolute = (p: string, base: string) => (isUrl(p) ? p : path.resolve(base, p));

function resolvePaths(config: SynupConfig, base: string): void {
  const abs = (p: string | undefined) => (p === undefined ? p : absolute(p, base));
  config.cell.dir = abs(config.cell.dir);
  config.changelog = abs(config.changelog);
  config.state.dir = abs(config.state.dir);
  config.backup.dir = abs(config.backup.dir);
  config.health.ca = abs(config.health.ca);
  const { process: proc, systemd, compose } = config.service;
  if (proc) Object.assign(proc, { pidFile: abs(proc.pidFile), logFile: abs(proc.logFile) });
  if (systemd) Object.assign(systemd, { environmentFile: abs(systemd.environmentFile), dropInDir: abs(systemd.dropInDir) });
  if (compose) Object.assign(compose, { file: abs(compose.file), overrideFile: abs(compose.overrideFile) });
}
