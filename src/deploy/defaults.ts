/**
 * Lanes of one tier that `synup deploy upgrade` runs at once unless --parallel says otherwise: two halve a tier's
 * time without piling every service's backup, cold defrag and first boot onto disks the services may share.
 * (Its own module: the CLI's help reads it without loading the deployment code.)
 */
export const DEFAULT_PARALLEL_LANES = 2;
