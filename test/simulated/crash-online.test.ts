// The crash matrix of online defrag (issue 24): synup killed at every point of the shadow's life, then `synup resume`.
import { describeCrashMatrix, FROM } from '../support/crash-matrix.js';
import { onlineEnv, startOnlineHarness } from '../support/upgrade-harness.js';

describeCrashMatrix(
  'online defrag',
  [
    ['shadow:before', 'new', {}],
    ['shadow:copied', 'new', {}],
    ['shadow:started', 'new', {}],
    ['shadow:after', 'new', {}],
    ['stop:after', 'new', {}],
    ['shadow-swap:shadow-stopped', 'new', {}],
    ['shadow-swap:before-swap', 'new', {}],
    ['shadow-swap:between-renames', 'new', {}],
    ['shadow-swap:after', 'new', {}],
    ['rollback:between-renames', 'old', { SYN_SIM_FAULT: 'die-mid-migration@2.182.0' }],
  ],
  () => startOnlineHarness({ version: FROM, processEnv: { SYN_SIM_MIGRATION_MS: '300', SYN_SIM_STOP_MS: '100' } }),
  onlineEnv,
);
