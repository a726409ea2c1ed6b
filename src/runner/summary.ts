import type { RunRecord } from './journal.js';
import { ownedRunDir } from './owned.js';

export interface RunSummary {
  id: string;
  cellDir: string;
  from: string;
  to: string;
  outcome: RunRecord['outcome'];
  startedAt: string;
  endedAt: string | null;
  /** API back: stop → the new (or, after a rollback, the old) version active again. */
  downtimeMs: number | null;
  /** Migrated: stop → the new version's model migrations complete (active is not migrated); null unless done. */
  migratedMs: number | null;
  /** The new version's model migrations by its log (`beginning model migration` → `model migrations complete`). */
  modelMigrationMs: number | null;
  bytesBefore: number | null;
  bytesAfter: number | null;
  reclaimedBytes: number | null;
  engine: string | null;
  steps: { name: string; state: string; durationMs: number | null; error?: string }[];
  error: string | null;
  rollbackError: string | null;
  preDir: string | null;
  failedDir: string | null;
  backupDir: string | null;
}

const ms = (a?: string, b?: string) => (a && b ? Date.parse(b) - Date.parse(a) : null);

/**
 * Downtime: stop → the new version active (done), or stop → rolled back. After `rollback --force` of a finished
 * upgrade, the hours the new version served are not downtime: the upgrade's outage plus the rollback's.
 */
function downtimeOf(run: RunRecord): number | null {
  const { stoppedAt, activeAt, reopenedForRollbackAt } = run.data;
  if (run.outcome === 'done') return ms(stoppedAt, activeAt);
  if (!reopenedForRollbackAt) return ms(stoppedAt, run.endedAt);
  const upgrade = ms(stoppedAt, activeAt) ?? 0;
  const back = ms(reopenedForRollbackAt, run.endedAt);
  return back === null ? null : upgrade + back;
}

export function summarizeRun(run: RunRecord): RunSummary {
  const before = run.data.bytesBefore ?? null;
  const after = run.data.bytesAfter ?? null;
  return {
    id: run.id,
    cellDir: run.cellDir,
    from: run.from,
    to: run.to,
    outcome: run.outcome,
    startedAt: run.startedAt,
    endedAt: run.endedAt ?? null,
    downtimeMs: downtimeOf(run),
    migratedMs: run.outcome === 'done' ? ms(run.data.stoppedAt, run.data.migratedAt) : null,
    modelMigrationMs: run.data.modelMigrationMs ?? null,
    bytesBefore: before,
    bytesAfter: after,
    reclaimedBytes: before !== null && after !== null ? before - after : null,
    engine: run.data.engine ?? null,
    steps: Object.entries(run.steps).flatMap(([name, s]) => (s ? [{ name, state: s.state, durationMs: ms(s.startedAt, s.endedAt), ...(s.error ? { error: s.error } : {}) }] : [])),
    error: run.error ?? null,
    rollbackError: run.rollbackError ?? null,
    preDir: ownedRunDir(run, 'pre'),
    failedDir: ownedRunDir(run, 'failed'),
    backupDir: run.data.backupDir ?? null,
  };
}
