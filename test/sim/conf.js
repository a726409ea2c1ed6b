// A cell's configuration, as Synapse's Cell.initFromArgv builds it (synapse/lib/cell.py, lib/config.py): command-line
// options, then SYN_* env vars and cell.yaml with setdefault (each only fills what is unset), then cell.mods.yaml with
// force=True — a key there overrides everything, the command line included ("Set configuration override for [KEY]
// from [PATH]" when it replaces a value). The sim takes from env and command line only what its own flags say, so here:
// cell.yaml under cell.mods.yaml, and `https:port` resolved against --port.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORT } from './options.js';

/** @typedef {Record<string, any>} ConfFile */

/** @param {string} file @returns {ConfFile} */
function readYaml(file) {
  if (!existsSync(file)) return {};
  const doc = parse(readFileSync(file, 'utf8'));
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) throw new Error(`${file} is not a YAML mapping`);
  return doc ?? {};
}

/**
 * @typedef {object} CellConf
 * @property {ConfFile} conf  cell.yaml with cell.mods.yaml over it (an explicit null there is a null here)
 * @property {ConfFile} yaml  cell.yaml alone
 * @property {ConfFile} mods  cell.mods.yaml alone
 */

/** @param {string} dir @returns {CellConf} */
export function readCellConf(dir) {
  const yaml = readYaml(path.join(dir, 'cell.yaml'));
  const mods = readYaml(path.join(dir, 'cell.mods.yaml'));
  return { conf: { ...yaml, ...mods }, yaml, mods };
}

/** The keys cell.mods.yaml overrides (it sets a value that cell.yaml or the command line already set). @param {CellConf} cellConf @param {number | undefined} cliPort @returns {string[]} */
export function overriddenKeys({ yaml, mods }, cliPort) {
  return Object.keys(mods).filter((key) => key in yaml || (key === 'https:port' && cliPort !== undefined));
}

/**
 * The HTTPS port: cell.mods.yaml's `https:port` (forced) over --port (a command-line option) over cell.yaml's (setdefault)
 * over 4443; null = no HTTPS listener. (A real Cortex's `--https` is no conf option: it applies only when no file sets
 * `https:port`; every sim caller passes --port, so here it keeps its place above cell.yaml.)
 * @param {CellConf} cellConf @param {number | undefined} cliPort @returns {number | null}
 */
export function httpsPort({ yaml, mods }, cliPort) {
  const port = 'https:port' in mods ? mods['https:port'] : (cliPort ?? ('https:port' in yaml ? yaml['https:port'] : DEFAULT_PORT));
  if (port !== null && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new Error(`https:port must be an integer from 0 to 65535 or null, got ${JSON.stringify(port)}`);
  return port;
}

/**
 * `dmon:listen` (the telepath listener): `tcp://HOST:PORT/` → where to bind; null or absent → none.
 * @param {ConfFile} conf @returns {{ host: string, port: number } | null}
 */
export function dmonListen(conf) {
  const url = conf['dmon:listen'] ?? null;
  if (url === null) return null;
  const parsed = typeof url === 'string' && URL.canParse(url) ? new URL(url) : null;
  if (!parsed || parsed.protocol !== 'tcp:' || !parsed.hostname || !parsed.port) throw new Error(`dmon:listen must be tcp://HOST:PORT/ or null (the sim serves no other telepath URL), got ${JSON.stringify(url)}`);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/**
 * `backup:dir` (default `<cell>/backups`), refused inside the cell dir as Cell.__anit__ does — by a string prefix test on
 * the absolute paths, so `/data/cortex-backups` beside `/data/cortex` is refused too.
 * @param {ConfFile} conf @param {string} dir @returns {string}
 */
export function backupDir(conf, dir) {
  const celldir = path.resolve(dir);
  const configured = conf['backup:dir'] ?? null;
  if (configured === null) return path.join(celldir, 'backups');
  const backdir = path.resolve(String(configured)); // as s_common.genpath: relative to the working dir
  if (backdir.startsWith(celldir)) throw Object.assign(new Error('backup:dir must not be within the service directory'), { code: 'BadConfValu' });
  return backdir;
}

/** A URL with its password replaced by ****, as Synapse's s_urlhelp.sanitizeUrl logs one. @param {string} url */
export function sanitizeUrl(url) {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  if (!parsed.password) return url;
  parsed.password = '****';
  return parsed.href;
}
