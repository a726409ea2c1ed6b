import type { BootMeasurement } from '../plan/boot-calibration.js';
import { Journal, type RunRecord } from './journal.js';
import { readRehearsals, type RehearsalRecord } from './rehearsals.js';

/**
 * The first boots a state dir has measured, with the migration work each had (issue 23): passing rehearsals
 * (rehearsals.json) and finished upgrades (the journal). Records from before synup counted the work are skipped:
 * a boot whose node counts are not known cannot be scaled to another cell's.
 */
export function bootsOfRehearsals(records: RehearsalRecord[]): BootMeasurement[] {
  return records.flatMap((r) =>
    r.ok && r.migrationMs != null && r.migrationWork
      ? [{ source: `rehearsal ${r.id}`, at: r.at, bootSeconds: r.migrationMs / 1000, modelMigrationSeconds: r.modelMigrationMs != null ? r.modelMigrationMs / 1000 : null, work: r.migrationWork }]
      : [],
  );
}

/** A finished upgrade's first boot: its start step's start → its wait-migrations step's end. */
export function bootsOfRuns(runs: RunRecord[]): BootMeasurement[] {
  return runs.flatMap((run) => {
    const started = run.steps.start?.startedAt;
    const migrated = run.steps['wait-migrations'];
    const work = run.data.migrationWork;
    if (run.outcome !== 'done' || !work || !started || migrated?.state !== 'completed' || !migrated.endedAt) return [];
    const bootMs = Date.parse(migrated.endedAt) - Date.parse(started);
    return [{ source: `upgrade ${run.id}`, at: migrated.endedAt, bootSeconds: bootMs / 1000, modelMigrationSeconds: run.data.modelMigrationMs != null ? run.data.modelMigrationMs / 1000 : null, work }];
  });
}

/**
 * Every measured boot of the state dir. `journal`: the run's own, already open (an upgrade's preflight); otherwise the
 * journal is opened for reading only when it exists (never created).
 */
export async function measuredBoots(stateDir: string, journal?: Journal): Promise<BootMeasurement[]> {
  const rehearsals = bootsOfRehearsals(readRehearsals(stateDir));
  if (journal) return [...rehearsals, ...bootsOfRuns(journal.list())];
  if (!Journal.exists(stateDir)) return rehearsals;
  const opened = Journal.open(stateDir);
  try {
    return [...rehearsals, ...bootsOfRuns(opened.list())];
  } finally {
    await opened.close();
  }
}
