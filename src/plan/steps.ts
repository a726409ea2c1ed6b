import { formatConfigDuration } from '../units.js';
import type { UpgradePlan } from './types.js';

/** Said in the plan and in the run when confirm can check only the data. */
export const DATA_ONLY_CONFIRM =
  'confirm can check only the data: no health password (SYNUP_HEALTH_PASSWORD or health.password; user health.username, default root), so the running service is not asked its version';

const ADAPTER_PROBES: Record<string, string> = {
  process: 'the process adapter has no probes',
  systemd: 'a drop-in sets TimeoutStartSec=infinity and WatchdogSec=0',
  compose: 'the override file disables the healthcheck',
  kubernetes: "the container's startupProbe and livenessProbe are removed",
};

const ADAPTER_START: Record<string, (to: string) => string> = {
  process: (to) => `run the configured command with {version} = ${to}`,
  systemd: (to) => `set the unit's version variable to ${to} and start the unit`,
  compose: (to) => `point the compose service at the image tag v${to} and bring it up`,
  kubernetes: (to) => `set the container image tag to v${to} and scale the workload back up`,
};

/**
 * The checks of the preflight step an operator can skip deliberately with `--ignore-preflight=<name>` (checks, not
 * steps: no step can be skipped). Here rather than in the step so the CLI's help names them without loading LMDB.
 */
export const PREFLIGHT_CHECKS = ['data-version', 'service-version', 'free-space', 'same-filesystem', 'ownership'] as const;
export type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];

/**
 * The ten steps of DESIGN.md, in order. Names are stable: the journal and log prefixes (`[upgrade/<name>]`) use
 * them, and the runner takes its names and titles from here.
 */
export const UPGRADE_STEPS = [
  {
    name: 'preflight',
    title: 'Preflight checks',
    describe: (p: UpgradePlan) =>
      `Lock the cell${p.dir ? ` ${p.dir}` : ''}, read its version from slabs/cell.lmdb (must be ${p.from}), list the ${p.migrations.length} migration(s) up to ${p.to}, check free space for the compacted copy${p.settings ? ` plus a ${Math.round(p.settings.freeSpaceMargin * 100)}% margin` : ''} that staging is on the same filesystem, and that synup can keep the owner, group and mode of every file it copies.`,
  },
  {
    name: 'backup-gate',
    title: 'Backup gate',
    describe: (p: UpgradePlan) =>
      `Require a verified backup of this cell (same cell.guid) newer than ${p.settings ? formatConfigDuration(p.settings.backupMaxAgeMs) : 'backup.maxAge'}, or make one live now with --backup (before any downtime).`,
  },
  {
    name: 'probes-off',
    title: 'Disable probes',
    describe: (p: UpgradePlan) =>
      `Save the startup/liveness probe spec in the journal and disable the probes${p.probesMustBeDisabled ? ' (required: migrations make the first boot slow and probes would kill it)' : ''}${p.settings ? `: ${ADAPTER_PROBES[p.settings.adapter]}` : ''}.`,
  },
  {
    name: 'stop',
    title: 'Stop the service',
    describe: (p: UpgradePlan) =>
      `Graceful stop with a ${p.settings ? `${formatConfigDuration(p.settings.stopTimeoutMs)} ` : ''}deadline, then forced; prove nothing holds cell.guid or a lock.mdb reader slot.`,
  },
  {
    name: 'cold-defrag',
    title: 'Cold defragmentation',
    describe: () =>
      'Compact every LMDB env into a staging dir next to the cell, verify it against the stopped cell (entries + digest per sub-db), swap by two renames; the old dir is kept as <dir>.synup-pre-<run>.',
  },
  {
    name: 'start',
    title: 'Start the new version',
    describe: (p: UpgradePlan) => `Switch the service to ${p.to} and start it${p.settings ? `: ${ADAPTER_START[p.settings.adapter]!(p.to)}` : ''}.`,
  },
  {
    name: 'wait-migrations',
    title: 'Wait for migrations',
    describe: (p: UpgradePlan) =>
      `Poll ${p.settings?.activeUrl ?? 'https /api/v1/active'} and follow the log until active and "model migrations complete"; ${p.migrations.length} migration(s) in ${p.releasesWithMigrations} release(s) make the first boot longer${p.settings ? `; a boot without progress for ${formatConfigDuration(p.settings.startTimeoutMs)} fails and rolls back` : ''}.`,
  },
  {
    name: 'confirm',
    title: 'Confirm the version',
    describe: (p: UpgradePlan) =>
      `${p.settings && !p.settings.serviceVersionCheck ? `The data's cell:info must say ${p.to} (WARNING: ${DATA_ONLY_CONFIRM})` : `The service (a Storm call, $lib.version.synapse()) and the data's cell:info must both say ${p.to}`}${p.settings ? (p.settings.smokeCheck ? '; run the configured smoke check' : '; no smoke check configured (health.smoke)') : '; run the smoke check if one is configured'}.`,
  },
  { name: 'probes-on', title: 'Restore probes', describe: () => 'Put the saved probe spec back exactly.' },
  {
    name: 'finish',
    title: 'Finish',
    describe: () => 'Mark the run done; keep the pre-upgrade dir as the O(1) rollback point until `synup prune`.',
  },
] as const satisfies readonly { name: string; title: string; describe: (plan: UpgradePlan) => string }[];

export type StepName = (typeof UPGRADE_STEPS)[number]['name'];
