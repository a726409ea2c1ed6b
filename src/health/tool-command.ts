import semver from 'semver';
import type { SynupConfig } from '../config/schema.js';
import type { ServiceAdapter } from '../service/adapter.js';
import { CONTAINER_CELL_URL } from '../service/version.js';

/** The first Synapse release with `synapse.tools.service.healthcheck`; older ones (and Vertex's probes) have `synapse.tools.healthcheck`. */
export const SERVICE_HEALTHCHECK_SINCE = '2.225.0';

/**
 * Synapse's healthcheck module for the version that runs: `synapse.tools.service.healthcheck` from 2.225.0,
 * `synapse.tools.healthcheck` before (it was removed in 3.0.0). An unknown version gets the current name.
 */
export function healthModule(version: string | null | undefined): string {
  const valid = version ? semver.valid(version) : null;
  return valid && semver.lt(valid, SERVICE_HEALTHCHECK_SINCE) ? 'synapse.tools.healthcheck' : 'synapse.tools.service.healthcheck';
}

/**
 * Synapse's healthcheck as it runs where the service runs: health.tool.command (default: the healthcheck module of
 * `version` under python3, or python in Vertex's images), with `{cell}` as the adapter says the cell is found from
 * there and `{module}` the module of `version`.
 */
export function healthToolCommand(config: SynupConfig, adapter: Pick<ServiceAdapter, 'cellUrl'>, version?: string | null): string[] {
  const python = adapter.cellUrl === CONTAINER_CELL_URL ? 'python' : 'python3';
  const template = config.health.tool.command ?? [python, '-m', '{module}', '-c', '{cell}'];
  const module = healthModule(version);
  return template.map((arg) => arg.replaceAll('{cell}', adapter.cellUrl).replaceAll('{module}', module));
}
