// The sim's options: flags over SYN_SIM_* env vars over defaults, normalized and checked here and nowhere else.
import { parseArgs } from 'node:util';
import { FAULT_MODES } from './faults.js';
import { isVersion } from './versions.js';

export const USAGE = `usage: node test/sim/cell.js <dir> --version X.Y.Z [options]
  --port N            HTTPS port on 127.0.0.1 (0 = any free port, logged in "https listening: N"); cell.mods.yaml's
                      https:port overrides it, cell.yaml's applies without it, else 4443 (null in either: no HTTPS)
  --seed N            nodes written at first boot (default 0; ignored once the cell exists)
  --migration-ms N    how long each migrating release takes: half storage, half model (default 1500)
  --stop-ms N         how long a graceful stop takes after SIGTERM (default 700: a real Cortex exits 0.7–2.3 s after it)
  --exit-linger-ms N  run the cell in a child of a process that holds no data and exits N ms after it (default 0: none),
                      as a real Cortex's main process, its envs closed, waits up to ~1 s on its drive workers
  --storm-start-ms N  the wait of the first Storm query after a start (default 1400: a real Cortex starts its Storm
                      parser's process pool then, 1.2–1.5 s); client writes, storm/call and model migrations are Storm
  --mirror-apply-ms N a mirror takes N ms per nexus entry it applies (default 0): one that falls behind its leader
  --fault MODE[@X.Y.Z]  inject a fault (repeatable), only into version X.Y.Z when given
  --init-only         create the storage (first boot) or check it, and exit without serving; faults do not apply
env: SYN_SIM_FAULT=MODE[@X.Y.Z][,…]  SYN_SIM_MIGRATION_MS=N  SYN_SIM_STOP_MS=N  SYN_SIM_EXIT_LINGER_MS=N  SYN_SIM_STORM_START_MS=N  SYN_SIM_MIRROR_APPLY_MS=N  SYN_SIM_PASSWORD=… (basic auth, user root, for /api/v1/core/info)`;

export class UsageError extends Error {}

/** The HTTPS port when neither --port nor a conf file's https:port says otherwise (conf.js). */
export const DEFAULT_PORT = 4443;

/** The defaults, in one place. */
const DEFAULTS = { mirrorApplyMs: 0, seed: 0, migrationMs: 1500, stopMs: 700, exitLingerMs: 0, stormStartMs: 1400 };

/**
 * @typedef {object} SimOptions
 * @property {string} dir
 * @property {string} version
 * @property {number | undefined} port  --port (conf.js weighs it against the conf files' https:port)
 * @property {number} seed
 * @property {number} migrationMs
 * @property {number} stopMs  a graceful stop's length after SIGTERM, as a real Cortex's teardown
 * @property {number} exitLingerMs  the cell runs in a child; this process, holding no data, exits that long after it
 * @property {number} stormStartMs  the first Storm query's wait for the parser pool to start
 * @property {number} mirrorApplyMs  a mirror's time per applied nexus entry (0: none), to make it lag
 * @property {Set<string>} faults  the fault modes that apply to this version
 * @property {boolean} initOnly
 * @property {string | undefined} password  SYN_SIM_PASSWORD: basic auth (user root) for /api/v1/core/info
 */

/**
 * @param {string} name
 * @param {string | undefined} text
 * @param {number} fallback
 * @param {number} [max]
 */
function integer(name, text, fallback, max = Number.MAX_SAFE_INTEGER) {
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > max) throw new UsageError(`${name} must be an integer from 0 to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * `MODE` or `MODE@X.Y.Z` specs → the modes that apply to `version` (a scoped one only to its own version, so a test
 * can break the new version and still roll back to a healthy old one).
 * @param {string[]} specs
 * @param {string} version
 */
function faultsFor(specs, version) {
  const modes = new Set();
  for (const spec of specs.map((s) => s.trim()).filter(Boolean)) {
    const [mode, only, ...rest] = spec.split('@');
    if (!FAULT_MODES.includes(mode)) throw new UsageError(`unknown fault ${JSON.stringify(mode)} in ${JSON.stringify(spec)}; known: ${FAULT_MODES.join(', ')}`);
    if (rest.length > 0 || (only !== undefined && !isVersion(only))) throw new UsageError(`a fault is MODE or MODE@X.Y.Z, got ${JSON.stringify(spec)}`);
    if (only === undefined || only === version) modes.add(mode);
  }
  return modes;
}

/**
 * @param {string[]} argv  process.argv.slice(2)
 * @param {NodeJS.ProcessEnv} env
 * @returns {SimOptions}
 */
export function parseOptions(argv, env) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        version: { type: 'string' },
        port: { type: 'string' },
        seed: { type: 'string' },
        'migration-ms': { type: 'string' },
        'stop-ms': { type: 'string' },
        'storm-start-ms': { type: 'string' },
        'exit-linger-ms': { type: 'string' },
        'mirror-apply-ms': { type: 'string' },
        fault: { type: 'string', multiple: true, default: [] },
        'init-only': { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(/** @type {Error} */ (error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`expected one storage dir, got ${positionals.length}`);
  const version = values.version;
  if (version === undefined) throw new UsageError('--version is required');
  if (!isVersion(version)) throw new UsageError(`--version must look like 2.181.0, got ${JSON.stringify(version)}`);
  const faults = faultsFor([...(values.fault ?? []), ...(env.SYN_SIM_FAULT ?? '').split(',')], version);
  return {
    dir: positionals[0],
    version,
    port: values.port === undefined ? undefined : integer('--port', values.port, DEFAULT_PORT, 65535),
    seed: integer('--seed', values.seed, DEFAULTS.seed),
    migrationMs: integer(values['migration-ms'] === undefined ? 'SYN_SIM_MIGRATION_MS' : '--migration-ms', values['migration-ms'] ?? env.SYN_SIM_MIGRATION_MS, DEFAULTS.migrationMs),
    stopMs: integer(values['stop-ms'] === undefined ? 'SYN_SIM_STOP_MS' : '--stop-ms', values['stop-ms'] ?? env.SYN_SIM_STOP_MS, DEFAULTS.stopMs, 10_000),
    exitLingerMs: integer(values['exit-linger-ms'] === undefined ? 'SYN_SIM_EXIT_LINGER_MS' : '--exit-linger-ms', values['exit-linger-ms'] ?? env.SYN_SIM_EXIT_LINGER_MS, DEFAULTS.exitLingerMs, 30_000),
    stormStartMs: integer(values['storm-start-ms'] === undefined ? 'SYN_SIM_STORM_START_MS' : '--storm-start-ms', values['storm-start-ms'] ?? env.SYN_SIM_STORM_START_MS, DEFAULTS.stormStartMs, 60_000),
    mirrorApplyMs: integer(values['mirror-apply-ms'] === undefined ? 'SYN_SIM_MIRROR_APPLY_MS' : '--mirror-apply-ms', values['mirror-apply-ms'] ?? env.SYN_SIM_MIRROR_APPLY_MS, DEFAULTS.mirrorApplyMs, 60_000),
    faults: values['init-only'] ? new Set() : faults,
    initOnly: values['init-only'] ?? false,
    password: env.SYN_SIM_PASSWORD || undefined,
  };
}
