import type { UpgradePlan } from './index.js';

/** The ten steps of DESIGN.md, in order; names are stable: journal, log prefixes and --ignore-preflight use them. */
export const UPGRADE_STEPS = [
  { name: 'preflight', title: 'Preflight checks', describe: (p: UpgradePlan) => `Lock the cell, read its version from slabs/cell.lmdb (must be ${p.from}), check free space for the compacted copy and that staging is on the same filesystem.` },
  { name: 'backup-gate', title: 'Backup gate', describe: () => 'Require a verified backup of this cell (same cell.guid) newer than backup.maxAge, or make one live now with --backup (before any downtime).' },
  { name: 'probes-off', title: 'Disable probes', describe: (p: UpgradePlan) => `Save the startup/liveness probe spec in the journal and disable the probes${p.probesMustBeDisabled ? ' (required: migrations make the first boot slow)' : ''}.` },
  { name: 'stop', title: 'Stop the service', describe: () => 'Graceful stop with a deadline, then forced; prove nothing holds cell.guid or a lock.mdb reader slot.' },
  { name: 'cold-defrag', title: 'Cold defragmentation', describe: () => 'Compact every LMDB env into a staging dir next to the cell, verify it against the stopped cell (entries + digest per sub-db), swap by two renames; the old dir is kept as <dir>.synup-pre-<run>.' },
  { name: 'start', title: 'Start the new version', describe: (p: UpgradePlan) => `Switch the service to ${p.to} and start it.` },
  { name: 'wait-migrations', title: 'Wait for migrations', describe: (p: UpgradePlan) => `Poll https /api/v1/active and follow the log until active and "model migrations complete"; ${p.migrations.length} migration(s) in ${p.releasesWithMigrations} release(s) make the first boot longer.` },
  { name: 'confirm', title: 'Confirm the version', describe: (p: UpgradePlan) => `The service and the data's cell:info must both say ${p.to}; run the configured smoke check.` },
  { name: 'probes-on', title: 'Restore probes', describe: () => 'Put the saved probe spec back exactly.' },
  { name: 'finish', title: 'Finish', describe: () => 'Mark the run done; keep the pre-upgrade dir as the O(1) rollback point until `synup prune`.' },
] as const;

export type StepName = (typeof UPGRADE_STEPS)[number]['name'];
