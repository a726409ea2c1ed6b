import path from 'node:path';
import { ensurePrivateDir } from '../fsutil.js';
import type { MigrationWork } from '../plan/boot-calibration.js';
import { readRecord, writeRecord } from '../records.js';

/** What a rehearsal measured, kept so `plan --dir` can predict downtime and `upgrade --require-rehearsal` can check. */
export interface RehearsalRecord {
  id: string;
  at: string;
  cellGuid: string | null;
  from: string;
  to: string;
  ok: boolean;
  migrationMs: number | null;
  /** The boot's model migrations by its log, when it showed both ends. */
  modelMigrationMs?: number | null;
  /** What the crossed migrations had to do in the backup (counted offline before the boot): calibrates predictions. */
  migrationWork?: MigrationWork;
  dataBytes: number;
  backup: string;
}

const fileIn = (stateDir: string) => path.join(stateDir, 'rehearsals.json');

export function readRehearsals(stateDir: string): RehearsalRecord[] {
  return readRecord<RehearsalRecord[]>(fileIn(stateDir)) ?? [];
}

export function recordRehearsal(stateDir: string, record: RehearsalRecord): void {
  ensurePrivateDir(stateDir);
  writeRecord(fileIn(stateDir), [...readRehearsals(stateDir), record]);
}

/** The newest passing rehearsal of exactly from → to (of this cell when its guid is known). */
export function latestPassingRehearsal(stateDir: string, from: string, to: string, cellGuid: string | null): RehearsalRecord | null {
  return (
    readRehearsals(stateDir)
      .filter((r) => r.ok && r.from === from && r.to === to && (cellGuid === null || r.cellGuid === cellGuid))
      .sort((a, b) => a.at.localeCompare(b.at))
      .at(-1) ?? null
  );
}
