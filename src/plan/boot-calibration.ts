/**
 * The first boot of a target version (start → active and migrated) predicted from what its migrations have to do in
 * this cell, calibrated by the boots this cell's state dir has measured (issue 23). A constant rate cannot be right
 * on every machine and load, so a measured boot of the same migrations — a rehearsal, a past upgrade — wins: its
 * fixed part (process start, storage migrations, Storm pool: the boot minus its model migrations by the log) is
 * taken as is, and its model migrations are scaled from the node counts then to the node counts now. Only with
 * nothing measured do the built-in rates answer alone, and the prediction says so. Pure.
 */

/** What the crossed migrations have to do in one cell. */
export interface MigrationWork {
  /** The releases with migrations crossed, sorted: two boots with the same list ran the same migrations. */
  releases: string[];
  /** Nodes a migration makes one new node for (_propToForm, _typeToForm). */
  createNodes: number;
  /** Nodes a migration re-norms in place. */
  normalizeNodes: number;
  /** Nodes of a layer storage migration over every node (the form index of 2.170.0). */
  allNodes: number;
}

/** One first boot measured in this state dir, with the work its migrations had. */
export interface BootMeasurement {
  /** `rehearsal <id>` or `upgrade <run id>`: said with every prediction made from it. */
  source: string;
  /** When it was measured (ISO 8601): the newest of equal candidates wins. */
  at: string;
  /** Start → active and migrated. */
  bootSeconds: number;
  /** Its model migrations by the log (`beginning model migration` → `model migrations complete`), when it showed both. */
  modelMigrationSeconds: number | null;
  work: MigrationWork;
}

export interface BootPrediction {
  /** Start → active and migrated. */
  seconds: number;
  /** The part that does not grow with node counts: process start, storage migrations, Storm pool. */
  fixedSeconds: number;
  /** The model migrations: a constant per release plus the node work. */
  migrationSeconds: number;
  /** Measured seconds per built-in second of node work (1 at the built-in rates): scales each migration's estimate. */
  nodeScale: number;
  /** `rehearsal <id>`, `upgrade <run id>` or `built-in rates`. */
  source: string;
  calibrated: boolean;
  /** The same boot at the built-in rates alone: what an uncalibrated prediction says. */
  builtInSeconds: number;
}

/**
 * Built-in rates, for a cell whose state dir measured no boot of the same migrations: fitted with
 * bench/impact-real.mjs on the lab's real Cortex (see the README). Rates are nodes/s.
 */
export const MIGRATION_RATES = {
  bootSeconds: 6,
  fixedSecondsPerRelease: 0.15,
  createNodesPerSecond: 3000,
  normalizeNodesPerSecond: 80000,
  /** A layer storage migration over every node (the form index of 2.170.0): an assumption, not measured here. */
  allNodesPerSecond: 20000,
};
export type MigrationRates = typeof MIGRATION_RATES;

/**
 * A measurement whose node work is under this many built-in seconds teaches how fast the machine boots, not how fast
 * it migrates nodes: its node rate is then the built-in one, scaled by the machine's speed on the fixed part.
 */
export const MIN_CALIBRATING_NODE_SECONDS = 1;

/** Seconds of node work at the built-in rates. */
export function builtInNodeSeconds(work: MigrationWork, rates: MigrationRates = MIGRATION_RATES): number {
  return work.createNodes / rates.createNodesPerSecond + work.normalizeNodes / rates.normalizeNodesPerSecond + work.allNodes / rates.allNodesPerSecond;
}

const releaseSeconds = (work: MigrationWork, rates: MigrationRates) => work.releases.length * rates.fixedSecondsPerRelease;
const sameMigrations = (a: MigrationWork, b: MigrationWork) => a.releases.join(' ') === b.releases.join(' ');

/** The newest measured boot of the same migrations, or null. */
export function calibratingBoot(work: MigrationWork, measured: BootMeasurement[]): BootMeasurement | null {
  return measured.filter((m) => sameMigrations(m.work, work)).sort((a, b) => a.at.localeCompare(b.at)).at(-1) ?? null;
}

/** The first boot for `work`: from the newest measured boot of the same migrations, else at the built-in rates. */
export function predictBoot(work: MigrationWork, measured: BootMeasurement[], rates: MigrationRates = MIGRATION_RATES): BootPrediction {
  const nodeSeconds = builtInNodeSeconds(work, rates);
  const builtInMigration = releaseSeconds(work, rates) + nodeSeconds;
  const builtInSeconds = rates.bootSeconds + builtInMigration;
  const base = calibratingBoot(work, measured);
  if (!base) return { seconds: builtInSeconds, fixedSeconds: rates.bootSeconds, migrationSeconds: builtInMigration, nodeScale: 1, source: 'built-in rates', calibrated: false, builtInSeconds };

  const thenNodeSeconds = builtInNodeSeconds(base.work, rates);
  const thenBuiltIn = rates.bootSeconds + releaseSeconds(base.work, rates) + thenNodeSeconds;
  // Without the log's window, the boot is split as the built-in rates would split it.
  const thenMigration = base.modelMigrationSeconds ?? base.bootSeconds * ((thenBuiltIn - rates.bootSeconds) / thenBuiltIn);
  const fixedSeconds = Math.max(0, base.bootSeconds - thenMigration);
  const speed = fixedSeconds / rates.bootSeconds;
  const nodeScale = thenNodeSeconds >= MIN_CALIBRATING_NODE_SECONDS ? Math.max(0, thenMigration - speed * releaseSeconds(base.work, rates)) / thenNodeSeconds : speed;
  // Exactly the measured boot for the same work; more or fewer nodes add or take their share at the measured rate.
  const migrationSeconds = Math.max(0, thenMigration + nodeScale * (nodeSeconds - thenNodeSeconds));
  return { seconds: fixedSeconds + migrationSeconds, fixedSeconds, migrationSeconds, nodeScale, source: base.source, calibrated: true, builtInSeconds };
}
