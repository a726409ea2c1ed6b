import { versionFromTuple } from '../changelog/version.js';
import { SynupError } from '../errors.js';
import { getJson } from './request.js';
import { baseUrl, Unreachable, type HealthTarget } from './tls.js';

export const INFO_PATH = '/api/v1/core/info';

export interface VersionOptions extends HealthTarget {
  /** HTTP basic auth (health.username / health.password); the password is never logged or echoed. */
  username?: string;
  password?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Synapse answers these when the request lacks (valid) credentials. */
const AUTH_CODES = new Set(['NotAuthenticated', 'AuthDeny']);

/**
 * The running service's Synapse version from GET /api/v1/core/info (`result.version`, a tuple like [2, 181, 0])
 * → "2.181.0". null when the service will not tell without (valid) credentials or has no such endpoint.
 */
export async function readServiceVersion(options: VersionOptions): Promise<string | null> {
  const url = baseUrl(options) + INFO_PATH;
  const headers: Record<string, string> = {};
  if (options.username !== undefined) {
    headers.authorization = 'Basic ' + Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64');
  }
  let response;
  try {
    response = await getJson(options, INFO_PATH, { signal: options.signal, timeoutMs: options.timeoutMs, headers });
  } catch (error) {
    if (error instanceof Unreachable) throw new SynupError('failed', `cannot read the service version: ${error.message}`);
    throw error;
  }
  const body = response.json as { status?: unknown; code?: unknown; result?: { version?: unknown } } | undefined;
  if ([401, 403, 404].includes(response.status)) return null;
  if (body && body.status === 'err' && typeof body.code === 'string' && AUTH_CODES.has(body.code)) return null;
  const version = response.status === 200 && body?.status === 'ok' ? versionFromTuple(body.result?.version) : null;
  if (version === null) {
    throw new SynupError('failed', `${url} answered HTTP ${response.status} without a version: ${JSON.stringify(response.excerpt.slice(0, 120))}`);
  }
  return version;
}
