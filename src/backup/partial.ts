/**
 * Partial backups: the one place that marks a backup in progress as synup's own and finds the ones whose writer
 * died (SIGKILL, power cut) before the manifest. The marker is a sidecar file beside the backup dir, so the backup's
 * own tree never holds it: `<dst>.synup-partial` = { pid, startTicks, host, startedAt }.
 */
import { readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PARTIAL_SUFFIX } from '../siblings.js';
import { isAlive, processStartTicks } from '../proc.js';
import { MANIFEST_FILE } from './manifest.js';
import { readRecord, writeRecord } from '../records.js';


interface PartialMarker {
  pid: number;
  startTicks: number | null;
  host: string;
  startedAt: string;
}

export interface AbandonedBackup {
  /** The backup dir the dead writer was making (may not exist: killed before the copy began). */
  dir: string;
  marker: string;
  startedAt: string;
  /** Killed after its manifest was written: the backup is whole, only the marker is left. */
  complete: boolean;
}

/** Marks `dst` as a backup this process is writing, before anything is created there. */
export function markPartial(dst: string): void {
  const marker: PartialMarker = { pid: process.pid, startTicks: processStartTicks(process.pid), host: os.hostname(), startedAt: new Date().toISOString() };
  writeRecord(dst + PARTIAL_SUFFIX, marker);
}

/** The backup is whole (manifest written) or removed: the marker goes. */
export function clearPartial(dst: string): void {
  rmSync(dst + PARTIAL_SUFFIX, { force: true });
}

function readMarker(file: string): PartialMarker | null {
  const value = readRecord<Partial<PartialMarker>>(file);
  return typeof value?.pid === 'number' && typeof value.host === 'string' && typeof value.startedAt === 'string'
    ? { pid: value.pid, startTicks: value.startTicks ?? null, host: value.host, startedAt: value.startedAt }
    : null;
}

/** Markers in `backupsDir` whose writer, on this host, is gone. A writer on another host is never judged dead. */
export function findAbandonedBackups(backupsDir: string): AbandonedBackup[] {
  let names: string[];
  try {
    names = readdirSync(backupsDir);
  } catch {
    return [];
  }
  const abandoned: AbandonedBackup[] = [];
  for (const name of names) {
    if (!name.endsWith(PARTIAL_SUFFIX) || name === PARTIAL_SUFFIX) continue;
    const marker = path.join(backupsDir, name);
    const record = readMarker(marker);
    if (!record || record.host !== os.hostname() || isAlive(record.pid, record.startTicks)) continue;
    const dir = marker.slice(0, -PARTIAL_SUFFIX.length);
    let complete = false;
    try {
      complete = readdirSync(dir).includes(MANIFEST_FILE);
    } catch {
      complete = false;
    }
    abandoned.push({ dir, marker, startedAt: record.startedAt, complete });
  }
  return abandoned;
}

/** Removes what a dead writer left: the partial dir (never a whole backup) and its marker. */
export async function removeAbandonedBackup(backup: AbandonedBackup): Promise<void> {
  if (!backup.complete) await rm(backup.dir, { recursive: true, force: true });
  rmSync(backup.marker, { force: true });
}
