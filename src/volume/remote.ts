import type { CellInfo } from '../lmdb/cellinfo.js';

/**
 * A cell whose data synup cannot reach as a local dir (a Kubernetes PersistentVolumeClaim): every operation runs
 * where the data is (a Job on the volume) and only while the service is stopped. `runId` names the work so a
 * re-run after a crash finds it.
 */
export interface RemoteCellData {
  /** Where the data is, for messages (e.g. `pvc/example-cortex00 of deployment/cortex00`). */
  describe(): Promise<string>;
  /** What runs on the data while the service is up (e.g. `deployment/cortex00`), for dry runs: known without a call. */
  readonly owner: string;
  /** The data's identity and versions, and the room on the volume for a compacted copy. */
  cellInfo(runId: string): Promise<CellInfo & { freeBytes: number; compactedBytes: number }>;
  /** A cold, verified backup to the operator's backup location. */
  backup(runId: string): Promise<{ dir: string; bytes: number }>;
  /** The newest usable backup of this cell younger than maxAgeMs, or why none counts. */
  backupGate(runId: string, maxAgeMs: number): Promise<{ backup: { dir: string; ageMs: number } | null; rejected: { dir: string; reason: string }[] }>;
  /** Compact, verify, swap in place; the pre-defrag data is kept (inside the volume) as the rollback point. */
  defrag(runId: string): Promise<{ bytesBefore: number; bytesAfter: number; engine: string; durationMs: number }>;
  undoDefrag(runId: string): Promise<{ restored: string[] }>;
}
