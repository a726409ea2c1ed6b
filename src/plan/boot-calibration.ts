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
  /** Measured seconds of model migrations per built-in second (1 at the built-in rates): scales each migration's estimate. */
  nodeScale: number;
  /** `rehearsal <id>`, `upgrade <run id>` (newest first, comma-separated when several) or `built-in rates`. */
  source: string;
  calibrated: boolean;
  /** The same boot at the built-in rates alone: what an uncalibrated prediction says. */
  builtInSeconds: number;
}

/**
 * Built-in rates, for a cell whose state dir measured no boot of the same migrations: a least-squares fit over the 16
 * first boots of two `bench/impact-real.mjs --calibrate` rounds on the lab's real Cortex (2.242.0 and 2.180.0 →
 * 2.250.0, 2 000–15 000 created and 0–8 000 re-normed nodes; the shared 2-core machine at load 1.3–2.9). The fixed part
 * varied 5.8–7.4 s; the model migrations (from `beginning model migration` to `model migrations complete`) cost a
 * constant — they run beside the start-up work the Cortex does once it listens — a little per release, and their
 * created nodes; re-norming was too fast to tell from the constant. Rates are nodes/s.
 */
export const MIGRATION_RATES = {
  /** Start → the model migrations begin (process start, storage migrations, the listener). */
  bootSeconds: 6.5,
  /** A boot with model migrations, whatever their count and nodes. */
  migrationBaseSeconds: 1.35,
  fixedSecondsPerRelease: 0.075,
  createNodesPerSecond: 4000,
  normalizeNodesPerSecond: 40000,
  /** A layer storage migration over every node (the form index of 2.170.0): an assumption, not measured here. */
  allNodesPerSecond: 20000,
};
export type MigrationRates = typeof MIGRATION_RATES;

/** Seconds of node work at the built-in rates. */
export function builtInNodeSeconds(work: MigrationWork, rates: MigrationRates = MIGRATION_RATES): number {
  return work.createNodes / rates.createNodesPerSecond + work.normalizeNodes / rates.normalizeNodesPerSecond + work.allNodes / rates.allNodesPerSecond;
}

/** The model migrations of a boot at the built-in rates. */
function builtInMigrationSeconds(work: MigrationWork, rates: MigrationRates): number {
  if (work.releases.length === 0) return 0;
  return rates.migrationBaseSeconds + work.releases.length * rates.fixedSecondsPerRelease + builtInNodeSeconds(work, rates);
}

const sameMigrations = (a: MigrationWork, b: MigrationWork) => a.releases.join(' ') === b.releases.join(' ');

/**
 * How many of the newest measured boots of the same migrations calibrate a prediction: one boot is one sample (on a
 * shared machine the same boot's fixed part varied by 2–4 s), the median of a few damps it.
 */
export const CALIBRATING_BOOTS = 3;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** A measured boot's fixed part and how its model migrations ran against the built-in estimate of its work. */
function calibrationOf(base: BootMeasurement, rates: MigrationRates): { fixedSeconds: number; nodeScale: number } {
  const builtInMigration = builtInMigrationSeconds(base.work, rates);
  // Without the log's window, the boot is split as the built-in rates would split it.
  const migration = base.modelMigrationSeconds ?? base.bootSeconds * (builtInMigration / (rates.bootSeconds + builtInMigration));
  const fixedSeconds = Math.max(0, base.bootSeconds - migration);
  return { fixedSeconds, nodeScale: builtInMigration > 0 ? migration / builtInMigration : fixedSeconds / rates.bootSeconds };
}

/**
 * The first boot for `work`: from the newest measured boots of the same migrations (up to CALIBRATING_BOOTS), else at
 * the built-in rates. A measured boot gives its fixed part as is (the boot minus its model migrations) and how much
 * slower or faster than built in its model migrations ran (`nodeScale`); the prediction takes the median of each over
 * the boots used, and today's migrations are the built-in estimate at that scale, so one boot of the same work is
 * predicted exactly as measured.
 */
export function predictBoot(work: MigrationWork, measured: BootMeasurement[], rates: MigrationRates = MIGRATION_RATES): BootPrediction {
  const builtInMigration = builtInMigrationSeconds(work, rates);
  const builtInSeconds = rates.bootSeconds + builtInMigration;
  const bases = measured.filter((m) => sameMigrations(m.work, work)).sort((a, b) => a.at.localeCompare(b.at)).slice(-CALIBRATING_BOOTS);
  if (bases.length === 0) return { seconds: builtInSeconds, fixedSeconds: rates.bootSeconds, migrationSeconds: builtInMigration, nodeScale: 1, source: 'built-in rates', calibrated: false, builtInSeconds };

  const calibrations = bases.map((base) => calibrationOf(base, rates));
  const fixedSeconds = median(calibrations.map((c) => c.fixedSeconds));
  const nodeScale = median(calibrations.map((c) => c.nodeScale));
  const migrationSeconds = nodeScale * builtInMigration;
  const source = bases.map((b) => b.source).reverse().join(', ');
  return { seconds: fixedSeconds + migrationSeconds, fixedSeconds, migrationSeconds, nodeScale, source, calibrated: true, builtInSeconds };
}
