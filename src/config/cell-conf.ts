import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { errorMessage, usageError } from '../errors.js';

/**
 * A cell's own settings files in Synapse's order — cell.yaml, then cell.mods.yaml over it — each that exists, parsed
 * (a top level that is not a mapping counts as empty). A file that is not YAML: exit 2 naming it.
 */
export function cellConfFiles(cellDir: string): { file: string; conf: Record<string, unknown> }[] {
  const files = [];
  for (const name of ['cell.yaml', 'cell.mods.yaml']) {
    const file = path.join(cellDir, name);
    if (!existsSync(file)) continue;
    let value: unknown;
    try {
      value = parseYaml(readFileSync(file, 'utf8'));
    } catch (error) {
      throw usageError(`${file} is not valid YAML (${errorMessage(error).split('\n')[0]})`, 'fix it: Synapse would not boot on it either');
    }
    files.push({ file, conf: value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {} });
  }
  return files;
}

/** cell.yaml, then cell.mods.yaml over it; {} when neither exists. */
export function cellConf(cellDir: string): Record<string, unknown> {
  return Object.assign({}, ...cellConfFiles(cellDir).map((f) => f.conf)) as Record<string, unknown>;
}

/** A telepath/https URL without a user's password, to print or journal. */
export const withoutCredentials = (url: string) => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1');
