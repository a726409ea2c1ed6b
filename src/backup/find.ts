import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { formatDuration } from '../cli/output.js';
import { readManifest, readVerification, type Manifest } from './manifest.js';

export interface UsableBackup {
  dir: string;
  manifest: Manifest;
  verifiedAt: string;
  ageMs: number;
}

export interface FindBackupOptions {
  backupsDir: string;
  cellGuid: string;
  maxAgeMs: number;
  now?: Date;
}

export interface FindBackupResult {
  /** The newest backup that passes every check, or null. */
  backup: UsableBackup | null;
  /** Every other backup dir looked at, with the reason it cannot be used. */
  rejected: { dir: string; reason: string }[];
}

/** Cheap re-check that nothing listed in the manifest went missing or changed size since it was verified. */
async function structureChanged(dir: string, manifest: Manifest): Promise<string | null> {
  const expected = [
    ...manifest.envs.map((env) => ({ rel: `${env.path}/data.mdb`, size: env.bytes })),
    ...manifest.files.map((file) => ({ rel: file.path, size: file.size })),
  ];
  for (const { rel, size } of expected) {
    const st = await lstat(path.join(dir, rel)).catch(() => null);
    if (!st) return `${rel} is missing since the backup was made`;
    if (st.size !== size) return `${rel} is ${st.size} bytes, the manifest says ${size}`;
  }
  return null;
}

async function judge(dir: string, options: FindBackupOptions, now: number): Promise<{ backup: UsableBackup } | { reason: string }> {
  const read = await readManifest(dir);
  if (!read.ok) {
    return { reason: read.code === 'incomplete' ? 'incomplete: no manifest.json (interrupted backup?)' : read.code === 'manifest-tampered' ? 'manifest tampered: its checksum does not match' : read.message };
  }
  const { manifest } = read;
  if (manifest.cell.guid !== options.cellGuid) return { reason: `foreign cell: cell.guid ${manifest.cell.guid ?? '(none)'}, this cell is ${options.cellGuid || '(no cell.guid)'}` };
  const ageMs = now - Date.parse(manifest.createdAt);
  if (!(ageMs <= options.maxAgeMs)) return { reason: `too old: ${formatDuration(Math.max(0, ageMs))} (limit ${formatDuration(options.maxAgeMs)})` };
  const verification = await readVerification(dir);
  if (!verification) return { reason: 'unverified: run `synup verify` on it' };
  if (verification.manifestChecksum !== manifest.checksum) return { reason: 'unverified: the recorded verification is of another manifest' };
  if (!verification.ok) return { reason: `failed verification: ${verification.problems[0]?.message ?? 'see synup-verified.json'}` };
  const changed = await structureChanged(dir, manifest);
  if (changed) return { reason: `changed since verification: ${changed}` };
  return { backup: { dir, manifest, verifiedAt: verification.verifiedAt, ageMs } };
}

/**
 * The upgrade's backup gate: the newest backup in `backupsDir` of this cell (cell.guid), no older than `maxAgeMs`,
 * with an intact manifest, a recorded successful verification of that very manifest, and every file still there.
 */
export async function findUsableBackup(options: FindBackupOptions): Promise<FindBackupResult> {
  const now = (options.now ?? new Date()).getTime();
  const entries = await readdir(options.backupsDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => path.join(options.backupsDir, e.name));
  const judged = await Promise.all(dirs.map(async (dir) => ({ dir, verdict: await judge(dir, options, now) })));
  const usable = judged
    .flatMap(({ verdict }) => ('backup' in verdict ? [verdict.backup] : []))
    .sort((a, b) => a.ageMs - b.ageMs);
  const rejected = judged.flatMap(({ dir, verdict }) => ('reason' in verdict ? [{ dir, reason: verdict.reason }] : []));
  return { backup: usable[0] ?? null, rejected };
}
