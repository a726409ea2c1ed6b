import type { SynupConfig } from '../config/schema.js';
import type { ServiceAdapter } from './adapter.js';
import { adapterContext, type CreateAdapterOptions } from './context.js';
import { ComposeAdapter, composeSettings } from './compose.js';
import { KubernetesAdapter, kubernetesSettings } from './kubernetes.js';
import { ProcessAdapter, processSettings } from './process.js';
import { SystemdAdapter, systemdSettings } from './systemd.js';

export type { AdapterName, LogOptions, SavedProbes, ServiceAdapter, ServiceStatus, StopOptions, StopResult } from './adapter.js';
export type { CreateAdapterOptions } from './context.js';

/** The adapter `service.adapter` names, with its settings resolved (defaults, paths) once, here. */
export function createAdapter(config: SynupConfig, options: CreateAdapterOptions): ServiceAdapter {
  const ctx = adapterContext(config, options);
  switch (config.service.adapter) {
    case 'process':
      return new ProcessAdapter(ctx, processSettings(config, ctx));
    case 'systemd':
      return new SystemdAdapter(ctx, systemdSettings(config, ctx));
    case 'compose':
      return new ComposeAdapter(ctx, composeSettings(config, ctx));
    case 'kubernetes':
      return new KubernetesAdapter(ctx, kubernetesSettings(config, ctx));
  }
}
