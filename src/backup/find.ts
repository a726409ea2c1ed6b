import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { formatDuration } from '../units.js';
import { sha256File } from './files.js';
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
  /** The cell's current data version (cell:info): a backup at another version cannot restore today's data. */
  cellVersion: string | null;
  maxAgeMs: number;
  now?: Date;
}

export interface FindBackupResult {
  /** The newest backup that passes every check, or null. */
  backup: UsableBackup | null;
  /** Every other backup dir looked at, with the reason it cannot be used. */
  rejected: { dir: string; reason: string }[];
  /** What re-hashing the candidates against their manifests cost. */
  rehash: { bytes: number; durationMs: number };
}

/**
 * Sizes only (cheap, for every backup), or with `hash` proof that the bytes are still those verified: every data.mdb
 * re-hashed (XXH64) and every file (sha256) against the manifest. A backup is compacted, so this reads it once.
 */
async function bytesChanged(dir: string, manifest: Manifest, options: { hash: boolean }): Promise<{ changed: string | null; bytes: number }> {
  const { hashFile } = await import('../lmdb/walk-js.js');
  let bytes = 0;
  for (const env of manifest.envs) {
    const rel = `${env.path}/data.mdb`;
    const st = await lstat(path.join(dir, rel)).catch(() => null);
    if (!st) return { changed: `${rel} is missing since the backup was verified`, bytes };
    if (st.size !== env.bytes) return { changed: `${rel} is ${st.size} bytes, the manifest says ${env.bytes}`, bytes };
    if (!options.hash) continue;
    const { fileHash, fileBytes } = await hashFile(path.join(dir, rel));
    bytes += fileBytes;
    if (fileHash !== env.fileHash) return { changed: `${rel} bytes differ from those verified (xxh64 ${fileHash}, expected ${env.fileHash})`, bytes };
  }
  for (const file of manifest.files) {
    const st = await lstat(path.join(dir, file.path)).catch(() => null);
    if (!st) return { changed: `${file.path} is missing since the backup was verified`, bytes };
    if (st.size !== file.size) return { changed: `${file.path} is ${st.size} bytes, the manifest says ${file.size}`, bytes };
    if (!options.hash) continue;
    bytes += st.size;
    if ((await sha256File(path.join(dir, file.path))) !== file.sha256) return { changed: `${file.path} content differs from the backup as verified (sha256)`, bytes };
  }
  return { changed: null, bytes };
}

/** Why a backup's bytes are no longer those of its manifest (re-hashed), or null: shared by the gate and restore. */
export async function backupBytesChanged(dir: string, manifest: Manifest): Promise<string | null> {
  return (await bytesChanged(dir, manifest, { hash: true })).changed;
}

async function judge(dir: string, options: FindBackupOptions, now: number): Promise<{ backup: UsableBackup } | { reason: string }> {
  const read = await readManifest(dir);
  if (!read.ok) {
    return { reason: read.code === 'incomplete' ? 'incomplete: no manifest.json (interrupted backup?)' : read.code === 'manifest-tampered' ? 'manifest tampered: its checksum does not match' : read.message };
  }
  const { manifest } = read;
  if (manifest.cell.guid !== options.cellGuid) return { reason: `foreign cell: cell.guid ${manifest.cell.guid ?? '(none)'}, this cell is ${options.cellGuid || '(no cell.guid)'}` };
  if (manifest.cell.cellVersion !== options.cellVersion) {
    return { reason: `taken at data version ${manifest.cell.cellVersion ?? '(unknown)'}, the cell is now at ${options.cellVersion ?? '(unknown)'} (a backup from before an upgrade cannot restore today's data)` };
  }
  const ageMs = now - Date.parse(manifest.createdAt);
  if (!(ageMs <= options.maxAgeMs)) return { reason: `too old: ${formatDuration(Math.max(0, ageMs))} (limit ${formatDuration(options.maxAgeMs)})` };
  const verification = await readVerification(dir);
  if (!verification) return { reason: 'unverified: run `synup verify` on it' };
  if (verification.manifestChecksum !== manifest.checksum) return { reason: 'unverified: the recorded verification is of another manifest' };
  if (!verification.ok) return { reason: `failed verification: ${verification.problems[0]?.message ?? 'see synup-verified.json'}` };
  const { changed } = await bytesChanged(dir, manifest, { hash: false });
  if (changed) return { reason: `changed since verification: ${changed}` };
  return { backup: { dir, manifest, verifiedAt: verification.verifiedAt, ageMs } };
}

/**
 * The upgrade's backup gate: the newest backup in `backupsDir` of this cell (cell.guid), no older than `maxAgeMs`,
 * at the cell's current data version, with an intact manifest, a recorded successful verification of that very
 * manifest, and every byte still the one verified (re-hashed).
 */
export async function findUsableBackup(options: FindBackupOptions): Promise<FindBackupResult> {
  const now = (options.now ?? new Date()).getTime();
  const entries = await readdir(options.backupsDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => path.join(options.backupsDir, e.name));
  const judged = await Promise.all(dirs.map(async (dir) => ({ dir, verdict: await judge(dir, options, now) })));
  const candidates = judged
    .flatMap(({ verdict }) => ('backup' in verdict ? [verdict.backup] : []))
    .sort((a, b) => a.ageMs - b.ageMs);
  const rejected = judged.flatMap(({ dir, verdict }) => ('reason' in verdict ? [{ dir, reason: verdict.reason }] : []));
  // Newest first; only until one is proven intact (re-hashing costs a read of the backup).
  const started = Date.now();
  const rehash = { bytes: 0, durationMs: 0 };
  let backup: UsableBackup | null = null;
  for (const candidate of candidates) {
    const { changed, bytes } = await bytesChanged(candidate.dir, candidate.manifest, { hash: true });
    rehash.bytes += bytes;
    if (!changed) {
      backup = candidate;
      break;
    }
    rejected.push({ dir: candidate.dir, reason: `changed since verification: ${changed}` });
  }
  rehash.durationMs = Date.now() - started;
  return { backup, rejected, rehash };
}
