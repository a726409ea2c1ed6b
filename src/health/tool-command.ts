import type { SynupConfig } from '../config/schema.js';
import type { ServiceAdapter } from '../service/adapter.js';
import { CONTAINER_CELL_URL } from '../service/version.js';

/**
 * Synapse's healthcheck as it runs where the service runs: health.tool.command (default: the healthcheck module
 * under python3, or python in Vertex's images), with `{cell}` as the adapter says the cell is found from there.
 */
export function healthToolCommand(config: SynupConfig, adapter: Pick<ServiceAdapter, 'cellUrl'>): string[] {
  const python = adapter.cellUrl === CONTAINER_CELL_URL ? 'python' : 'python3';
  const template = config.health.tool.command ?? [python, '-m', 'synapse.tools.service.healthcheck', '-c', '{cell}'];
  return template.map((arg) => arg.replaceAll('{cell}', adapter.cellUrl));
}
