import { setTimeout as sleep } from 'node:timers/promises';
import { SynupError } from '../errors.js';
import { formatDuration } from '../units.js';
import { requestJson } from './request.js';
import { baseUrl, describeTrust, trustFor, Unreachable, type HealthTarget } from './tls.js';

export const ACTIVE_PATH = '/api/v1/active';

export interface ActiveCheck {
  active: boolean;
  /** Why not (or "active"): connection refused, HTTP 503, passive mirror, not JSON… */
  detail: string;
  url: string;
}

export interface CheckOptions extends HealthTarget {
  /** A mirror: an answer saying "not active" (passive) counts as ready. */
  passiveIsReady?: boolean;
  signal?: AbortSignal;
  /** One request's budget (default 5 s). */
  timeoutMs?: number;
}

export interface WaitOptions extends CheckOptions {
  /** Give up this long after the first attempt. */
  deadlineMs: number;
  /** First pause between attempts; grows ×1.5 up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  onAttempt?(check: ActiveCheck, attempt: number): void;
}

/** minAttemptMs: even the attempt at the deadline gets this long to answer (so its reason is a real one). */
const waitDefaults = { initialDelayMs: 200, maxDelayMs: 2000, minAttemptMs: 250 } as const;

/** `{"status": "ok", "result": {"active": true}}` in any spacing: the body is parsed, never string-matched. */
function judgeActive(status: number, json: unknown, excerpt: string): Pick<ActiveCheck, 'active' | 'detail'> {
  const body = json as { status?: unknown; result?: { active?: unknown } } | undefined;
  if (status !== 200) return { active: false, detail: `HTTP ${status}` };
  if (body === undefined || body === null || typeof body !== 'object') return { active: false, detail: `not a JSON object: ${JSON.stringify(excerpt.slice(0, 60))}` };
  if (body.status !== 'ok') return { active: false, detail: `status ${JSON.stringify(body.status)}` };
  if (body.result?.active === true) return { active: true, detail: 'active' };
  if (body.result?.active === false) return { active: false, detail: 'answers but is not active (passive, e.g. a mirror)' };
  return { active: false, detail: 'answer has no result.active' };
}

/**
 * One GET of /api/v1/active. Not reachable / not active → `{active: false, detail}`; an untrusted certificate
 * throws (refused), and so does the caller's abort.
 */
export async function checkActive(options: CheckOptions): Promise<ActiveCheck> {
  const url = baseUrl(options) + ACTIVE_PATH;
  try {
    const response = await requestJson(options, ACTIVE_PATH, { signal: options.signal, timeoutMs: options.timeoutMs });
    const judged = judgeActive(response.status, response.json, response.excerpt);
    if (options.passiveIsReady && (response.json as { result?: { active?: unknown } } | undefined)?.result?.active === false && judged.detail.startsWith('answers')) {
      return { active: true, detail: 'ready: answers as a passive mirror', url };
    }
    return { ...judged, url };
  } catch (error) {
    if (error instanceof Unreachable) return { active: false, detail: error.message, url };
    throw error;
  }
}

/**
 * Polls /api/v1/active with backoff until it says active, the deadline passes (failed) or the signal aborts.
 * A foreign certificate ends the wait at once (refused): it will not become the cell's by waiting.
 */
export async function waitForActive(options: WaitOptions): Promise<ActiveCheck & { attempts: number; elapsedMs: number }> {
  const started = Date.now();
  const maxDelayMs = options.maxDelayMs ?? waitDefaults.maxDelayMs;
  let delay = options.initialDelayMs ?? waitDefaults.initialDelayMs;
  const url = baseUrl(options) + ACTIVE_PATH;
  const cancelled = (last: string) => new SynupError('failed', `stopped waiting for ${url} to become active: cancelled (last: ${last})`);
  let last = 'no answer yet';
  for (let attempt = 1; ; attempt++) {
    const remaining = options.deadlineMs - (Date.now() - started);
    let check: ActiveCheck;
    try {
      check = await checkActive({ ...options, timeoutMs: Math.min(options.timeoutMs ?? 5000, Math.max(remaining, waitDefaults.minAttemptMs)) });
    } catch (error) {
      if (options.signal?.aborted && !(error instanceof SynupError)) throw cancelled(last);
      throw error;
    }
    last = check.detail;
    options.onAttempt?.(check, attempt);
    if (check.active) return { ...check, attempts: attempt, elapsedMs: Date.now() - started };
    const left = options.deadlineMs - (Date.now() - started);
    if (left <= 0) {
      throw new SynupError('failed', `${url} did not report active within ${formatDuration(options.deadlineMs)} (${attempt} attempt${attempt === 1 ? '' : 's'}; last: ${check.detail})`, {
        hint: `check the service log; the certificate is ${describeTrust(trustFor(options))}`,
      });
    }
    try {
      await sleep(Math.min(delay, left), undefined, { signal: options.signal });
    } catch {
      throw cancelled(last);
    }
    delay = Math.min(maxDelayMs, delay * 1.5);
  }
}
