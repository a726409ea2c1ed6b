import { SynupError } from '../errors.js';
import { requestJson } from './request.js';
import { baseUrl, Unreachable } from './tls.js';
import type { VersionOptions } from './version.js';

const STORM_CALL = '/api/v1/storm/call';

/**
 * What the impact check asks a running Cortex, in one read-only Storm call (`readonly: true`: the Cortex refuses any
 * edit in it): the counts of the names the crossed bullets name (a name not in this Cortex's model is skipped, so the
 * query runs on every version), the view's form counts, and every stored Storm object's definition. Written in the
 * syntax 2.180.0 through 2.250.0 all accept, without the calls it looks for (`$lib.dict()`, `$lib.list()`…).
 * Checked against the lab's real Cortex 2.180.0 and 2.250.0.
 */
export const IMPACT_QUERY = `$view = $lib.view.get()
$counts = ({})
for $n in $names {
    if $lib.model.prop($n) { $counts.$n = $view.getPropCount($n) }
}
$crons = ([])
for $c in $lib.cron.list() { $crons.append($c.pack()) }
$trigs = ([])
for $t in $lib.trigger.list() { $trigs.append($t.pack()) }
$macros = ([])
for $m in $lib.macro.list() { $macros.append($m.1) }
return(({"version": $lib.version.synapse(), "forms": $view.getFormCounts(), "counts": $counts,
    "crons": $crons, "triggers": $trigs, "macros": $macros, "dmons": $lib.dmon.list(), "packages": $lib.pkg.list()}))`;

/** The answer as a Cortex gives it (definitions as stored; fields vary by version, so all optional). */
export interface ImpactAnswer {
  version: unknown;
  forms: Record<string, number>;
  counts: Record<string, number>;
  crons: { iden?: string; name?: string; query?: string; storm?: string }[];
  triggers: { iden?: string; name?: string; storm?: string }[];
  macros: { iden?: string; name?: string; storm?: string }[];
  dmons: { iden?: string; name?: string; storm?: string }[];
  packages: Record<string, unknown>[];
}

/** Storm answers can carry every package's code: far more than a health check's 1 MiB. */
const STORM_MAX_BYTES = 256 * 1024 * 1024;
const AUTH_CODES = new Set(['NotAuthenticated', 'AuthDeny']);

/**
 * One Storm call (read-only unless `readonly: false`) with HTTP basic auth (health.username / health.password, never logged), its `return()`
 * value. Refuses without credentials (usage), on wrong ones (usage), unreachable (failed), a Storm error (failed).
 */
export async function stormCall(options: VersionOptions & { maxBodyBytes?: number; readonly?: boolean }, query: string, vars: Record<string, unknown> = {}): Promise<unknown> {
  const readonly = options.readonly ?? true;
  const url = baseUrl(options) + STORM_CALL;
  const fix = 'set SYNUP_HEALTH_PASSWORD (or health.password) to the password of health.username (default root): `auth:passwd` in cell.yaml; or pass --offline to read its files (form counts and configuration only)';
  if (options.password === undefined) throw new SynupError('usage', `cannot ask the Cortex through Storm (${STORM_CALL}): no credentials (health.password)`, { hint: fix });
  const headers = { authorization: 'Basic ' + Buffer.from(`${options.username ?? 'root'}:${options.password}`).toString('base64') };
  let response;
  try {
    response = await requestJson(options, STORM_CALL, { signal: options.signal, timeoutMs: options.timeoutMs ?? 120_000, headers, maxBodyBytes: options.maxBodyBytes ?? STORM_MAX_BYTES, body: { query, opts: { readonly, vars } } });
  } catch (error) {
    if (error instanceof Unreachable) {
      throw new SynupError('failed', `cannot reach the Cortex: ${error.message}`, { hint: 'start it (`synup start`), check health.host/health.port, or pass --offline to read its stopped files' });
    }
    throw error;
  }
  const body = response.json as { status?: unknown; code?: unknown; mesg?: unknown; result?: unknown } | undefined;
  if (response.status === 401 || response.status === 403 || (body?.status === 'err' && typeof body.code === 'string' && AUTH_CODES.has(body.code))) {
    throw new SynupError('usage', `${url} refused the credentials of user ${options.username ?? 'root'} (HTTP ${response.status}${typeof body?.code === 'string' ? ` ${body.code}` : ''})`, { hint: fix });
  }
  if (response.status === 404) throw new SynupError('failed', `${url} answered 404: not a Cortex (no Storm)`, { hint: 'check health.port: it must be the Cortex\'s HTTPS port' });
  if (response.status !== 200 || body?.status !== 'ok') {
    const why = body?.status === 'err' ? `${String(body.code)}: ${String(body.mesg ?? '').slice(0, 300)}` : `HTTP ${response.status} ${JSON.stringify(response.excerpt.slice(0, 120))}`;
    throw new SynupError('failed', `the Cortex refused synup's ${readonly ? 'read-only ' : ''}Storm query: ${why}`);
  }
  return body.result;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The impact query's answer, its shape checked: a Cortex that answers something else is reported, not trusted. */
export async function readImpactAnswer(options: VersionOptions, names: string[]): Promise<ImpactAnswer> {
  const result = await stormCall(options, IMPACT_QUERY, { names });
  const lists = ['crons', 'triggers', 'macros', 'dmons', 'packages'] as const;
  if (!isRecord(result) || !isRecord(result.forms) || !isRecord(result.counts) || lists.some((k) => !Array.isArray(result[k]))) {
    throw new SynupError('failed', `the Cortex answered the impact query with an unexpected value: ${JSON.stringify(result).slice(0, 200)}`);
  }
  return result as unknown as ImpactAnswer;
}
