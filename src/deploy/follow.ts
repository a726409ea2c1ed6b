import type { DeploymentService } from './file.js';
import { canonicalHost } from './hosts.js';
import { cellConf, withoutCredentials } from '../config/cell-conf.js';

export { canonicalHost, cellConf, withoutCredentials };

/**
 * Who a cell follows and where a service answers, from what is readable before anything runs: cell.yaml with
 * cell.mods.yaml over it (Synapse's own order), the deployment file's `url:`, the service's synup.yaml.
 */

/** The `mirror:` URL a cell follows (cell.mods.yaml over cell.yaml), or null for a leader. */
export function mirrorUrlOf(cellDir: string): string | null {
  const url = cellConf(cellDir).mirror;
  return typeof url === 'string' && url.trim() !== '' ? url.trim() : null;
}

export interface Endpoint {
  host: string;
  port: number;
}

const endpointKey = (e: Endpoint) => `${canonicalHost(e.host)}:${e.port}`;

/** host and port of a telepath/https URL (`tcp://user:pass@host:port/`), or null (aha://, no port, not a URL). */
export function endpointOfUrl(url: string): Endpoint | null {
  try {
    const parsed = new URL(url);
    if (parsed.protocol === 'aha:' || !parsed.port) return null;
    return { host: parsed.hostname, port: Number(parsed.port) };
  } catch {
    return null;
  }
}

/** The AHA name an `aha://[user@]name[.network|...]/` URL follows, without the trailing `...`; null for other URLs. */
export function ahaNameOfUrl(url: string): string | null {
  const match = /^aha:\/\/(?:[^@/]*@)?([^/:?]+)/i.exec(url);
  return match ? match[1]!.replace(/\.+$/, '').toLowerCase() : null;
}

/** Everywhere a service answers: its file `url:`, its health host:port, its cell's `dmon:listen` and `https:port`. */
export function endpointsOf(service: DeploymentService): Endpoint[] {
  const endpoints: Endpoint[] = [{ host: service.config.health.host, port: service.config.health.port }];
  const fromUrl = service.url ? endpointOfUrl(service.url) : null;
  if (fromUrl) endpoints.push(fromUrl);
  let conf: Record<string, unknown> = {};
  try {
    conf = service.config.cell.dir ? cellConf(service.config.cell.dir) : {};
  } catch {
    // an unreadable cell.yaml is reported where it matters (the pre-checks)
  }
  const dmon = typeof conf['dmon:listen'] === 'string' ? endpointOfUrl(conf['dmon:listen']) : null;
  if (dmon) endpoints.push(dmon);
  if (typeof conf['https:port'] === 'number') endpoints.push({ host: 'localhost', port: conf['https:port'] });
  return endpoints;
}

/** The AHA names a service answers to as a leader: its `aha:leader` alias (alone and with `aha:network`), its own name. */
export function ahaNamesOf(service: DeploymentService): string[] {
  let conf: Record<string, unknown> = {};
  try {
    conf = service.config.cell.dir ? cellConf(service.config.cell.dir) : {};
  } catch {
    // as above
  }
  const names: string[] = [];
  const [leader, network, name] = [conf['aha:leader'], conf['aha:network'], conf['aha:name']];
  if (typeof leader === 'string') names.push(leader, ...(typeof network === 'string' ? [`${leader}.${network}`] : []));
  if (typeof name === 'string') names.push(name, ...(typeof network === 'string' ? [`${name}.${network}`] : []));
  if (service.ahaName) names.push(service.ahaName);
  return names.map((n) => n.toLowerCase());
}

/** Whether a `mirror:` URL reaches `service` (by address, or by an AHA name it answers to). */
export function urlReaches(url: string, service: DeploymentService): boolean {
  const aha = ahaNameOfUrl(url);
  if (aha !== null) return ahaNamesOf(service).includes(aha);
  const target = endpointOfUrl(url);
  return target !== null && endpointsOf(service).some((e) => endpointKey(e) === endpointKey(target));
}

/** The service of `services` a `mirror:` URL reaches, or null. */
export function serviceReachedBy(url: string, services: DeploymentService[]): DeploymentService | null {
  return services.find((s) => urlReaches(url, s)) ?? null;
}
