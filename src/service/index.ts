import type { SynupConfig } from '../config/schema.js';
import type { AdapterName, AdapterPlanText, ServiceAdapter } from './adapter.js';
import type { AdapterContext } from './context.js';
import { adapterContext, type CreateAdapterOptions } from './context.js';
import { ComposeAdapter, composeSettings } from './compose.js';
import { KubernetesAdapter, kubernetesSettings } from './kubernetes.js';
import { ProcessAdapter, processSettings } from './process.js';
import { SystemdAdapter, systemdSettings } from './systemd.js';

export type { AdapterName, AdapterPlanText, LogOptions, SavedProbes, ServiceAdapter, ServiceStatus, StopOptions, StopResult } from './adapter.js';
export type { CreateAdapterOptions } from './context.js';

/**
 * The registry, one line per adapter: how it is made from the config (settings resolved once, in its own file) and
 * what plans say it does. A new adapter is its own file plus one line here.
 */
const ADAPTERS: Record<AdapterName, { create(config: SynupConfig, ctx: AdapterContext): ServiceAdapter; plan: AdapterPlanText }> = {
  process: { create: (config, ctx) => new ProcessAdapter(ctx, processSettings(config, ctx)), plan: ProcessAdapter.plan },
  systemd: { create: (config, ctx) => new SystemdAdapter(ctx, systemdSettings(config, ctx)), plan: SystemdAdapter.plan },
  compose: { create: (config, ctx) => new ComposeAdapter(ctx, composeSettings(config, ctx)), plan: ComposeAdapter.plan },
  kubernetes: { create: (config, ctx) => new KubernetesAdapter(ctx, kubernetesSettings(config, ctx)), plan: KubernetesAdapter.plan },
};

/** The adapter `service.adapter` names, with its settings resolved (defaults, paths) once. */
export function createAdapter(config: SynupConfig, options: CreateAdapterOptions): ServiceAdapter {
  return ADAPTERS[config.service.adapter].create(config, adapterContext(config, options));
}

/** What plans say the adapter `name` does. */
export const adapterPlanText = (name: AdapterName): AdapterPlanText => ADAPTERS[name].plan;
