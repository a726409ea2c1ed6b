import { versionFromTuple } from '../changelog/version.js';
import { SynupError } from '../errors.js';
import { requestJson } from './request.js';
import { baseUrl, Unreachable, type HealthTarget } from './tls.js';

/**
 * A one-value Storm call: cheap whatever the data model's size (/api/v1/core/info returns the whole model, ~1.5 MB on
 * a real Cortex). Answers the same on Synapse 2.180.0, 2.242.0 and 2.250.0 (checked against the real Cortex).
 */
const VERSION_PATH = '/api/v1/storm/call';
const VERSION_QUERY = 'return($lib.version.synapse())';

/** Synapse's default admin user: `auth:passwd` in cell.yaml sets root's password. */
const DEFAULT_USERNAME = 'root';

export interface VersionOptions extends HealthTarget {
  /** HTTP basic auth (health.username / health.password); the password is never logged or echoed. */
  username?: string;
  password?: string;
  signal?: AbortSignal;
  /** The first Storm call after a start takes seconds (Synapse starts its Storm parser's forkserver). */
  timeoutMs?: number;
}

const versionDefaults = { timeoutMs: 30_000 } as const;

/** Synapse answers these when the request lacks (valid) credentials. */
const AUTH_CODES = new Set(['NotAuthenticated', 'AuthDeny']);

/**
 * The running service's Synapse version from a Storm call (`$lib.version.synapse()`, a tuple like [2, 181, 0])
 * → "2.181.0". null when the service will not tell without (valid) credentials or has no Storm (not a Cortex).
 */
export async function readServiceVersion(options: VersionOptions): Promise<string | null> {
  const url = baseUrl(options) + VERSION_PATH;
  const headers: Record<string, string> = {};
  if (options.password !== undefined) {
    const username = options.username ?? DEFAULT_USERNAME;
    headers.authorization = 'Basic ' + Buffer.from(`${username}:${options.password}`).toString('base64');
  }
  let response;
  try {
    response = await requestJson(options, VERSION_PATH, { signal: options.signal, timeoutMs: options.timeoutMs ?? versionDefaults.timeoutMs, headers, body: { query: VERSION_QUERY } });
  } catch (error) {
    if (error instanceof Unreachable) throw new SynupError('failed', `cannot read the service version: ${error.message}`);
    throw error;
  }
  const body = response.json as { status?: unknown; code?: unknown; result?: unknown } | undefined;
  if ([401, 403, 404].includes(response.status)) return null;
  if (body && body.status === 'err' && typeof body.code === 'string' && AUTH_CODES.has(body.code)) return null;
  const version = response.status === 200 && body?.status === 'ok' ? versionFromTuple(body.result) : null;
  if (version === null) {
    throw new SynupError('failed', `${url} answered HTTP ${response.status} without a version: ${JSON.stringify(response.excerpt.slice(0, 120))}`);
  }
  return version;
}
