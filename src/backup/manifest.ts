import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../fsutil.js';
import { unsafeRelativePath } from '../safety/paths.js';

/** A backup without it is incomplete: it is written last (temp + fsync + rename), after every byte of data. */
export const MANIFEST_FILE = 'manifest.json';
/** The last verification of the backup (written by verify, temp + fsync + rename). */
export const VERIFICATION_FILE = 'synup-verified.json';
/** synup's own files at the top of a backup; never part of the copied cell. */
export const RESERVED_FILES = [MANIFEST_FILE, VERIFICATION_FILE];

const subDb = z.object({ name: z.string(), flagBits: z.number().int(), flags: z.array(z.string()), entries: z.number().int(), digest: z.string() });

const manifestSchema = z.object({
  format: z.literal('synup-backup/1'),
  synupVersion: z.string(),
  createdAt: z.string(),
  mode: z.enum(['live', 'cold']),
  engine: z.enum(['builtin', 'mdb_copy', 'lmdb-js', 'synapse']),
  consistency: z.enum(['snapshot', 'per-env']),
  /** Where the digests come from: the copied snapshot itself, the stopped source, or (live, per-env engines) the copy. */
  digestOf: z.enum(['snapshot', 'source', 'copy']),
  source: z.object({ dir: z.string(), host: z.string() }),
  cell: z.object({ guid: z.string().nullable(), cellVersion: z.string().nullable(), synapseVersion: z.string().nullable() }),
  skipDirs: z.array(z.string()),
  envs: z.array(
    z.object({
      path: z.string(),
      pageSize: z.number().int(),
      pages: z.number().int(),
      bytes: z.number().int(),
      bytesBefore: z.number().int(),
      /** data.mdb's file mode (the source's). */
      mode: z.number().int(),
      /** XXH64 of data.mdb's bytes as written. */
      fileHash: z.string(),
      entries: z.number().int(),
      digest: z.string(),
      dbs: z.array(subDb),
    }),
  ),
  files: z.array(z.object({ path: z.string(), size: z.number().int(), mode: z.number().int(), mtimeMs: z.number(), sha256: z.string() })),
  symlinks: z.array(z.object({ path: z.string(), target: z.string() })),
  dirs: z.array(z.object({ path: z.string(), mode: z.number().int(), mtimeMs: z.number() })),
  /** Mode of the cell dir itself. */
  rootMode: z.number().int(),
  totals: z.object({ bytesBefore: z.number(), bytesAfter: z.number(), durationMs: z.number() }),
  notes: z.array(z.string()),
  /** sha256 of this document without this field (JSON, keys in order): any edit shows. */
  checksum: z.string(),
});

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestEnv = Manifest['envs'][number];

function checksumOf(withoutChecksum: unknown): string {
  return createHash('sha256').update(JSON.stringify(withoutChecksum)).digest('hex');
}

export function sealManifest(body: Omit<Manifest, 'checksum'>): Manifest {
  return { ...body, checksum: checksumOf(body) };
}

export function writeManifest(dir: string, manifest: Manifest): void {
  writeFileAtomic(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n', 0o644);
}

export type ManifestRead =
  | { ok: true; manifest: Manifest }
  | { ok: false; code: 'incomplete' | 'manifest-unreadable' | 'manifest-tampered' | 'manifest-unsafe'; message: string };

/** A path in the manifest that would lead a restore outside its target: `..`, absolute, or below a symlink. */
function unsafeManifestPath(manifest: Manifest): string | null {
  const links = manifest.symlinks.map((l) => l.path);
  const all = [...manifest.envs, ...manifest.files, ...manifest.dirs, ...manifest.symlinks].map((e) => e.path);
  for (const rel of all) {
    const unsafe = unsafeRelativePath(rel);
    if (unsafe) return unsafe;
    const via = links.find((link) => rel.startsWith(link + '/'));
    if (via) return `${JSON.stringify(rel)} lies below the symlink ${JSON.stringify(via)}`;
  }
  return null;
}

/** Reads and checks a backup's manifest: present, valid JSON of the right shape, checksum intact. */
export async function readManifest(dir: string): Promise<ManifestRead> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? { ok: false, code: 'incomplete', message: `${dir} has no ${MANIFEST_FILE}: the backup never finished (or this is not a synup backup)` }
      : { ok: false, code: 'manifest-unreadable', message: `cannot read ${file}: ${code ?? String(error)}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: 'manifest-tampered', message: `${file} is not valid JSON (${(error as Error).message}): edited or damaged` };
  }
  const { checksum, ...body } = (raw ?? {}) as Record<string, unknown>;
  if (typeof checksum !== 'string' || checksumOf(body) !== checksum) {
    return { ok: false, code: 'manifest-tampered', message: `${file} does not match its own checksum: it was edited or damaged after the backup was written` };
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, code: 'manifest-unreadable', message: `${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message} (written by another synup version?)` };
  }
  const unsafe = unsafeManifestPath(parsed.data);
  if (unsafe) return { ok: false, code: 'manifest-unsafe', message: `${file}: path ${unsafe}: a restore would write outside its target` };
  return { ok: true, manifest: parsed.data };
}

const verificationSchema = z.object({
  verifiedAt: z.string(),
  ok: z.boolean(),
  manifestChecksum: z.string(),
  synupVersion: z.string(),
  engine: z.string(),
  durationMs: z.number(),
  problems: z.array(z.object({ code: z.string(), message: z.string() })),
  against: z.string().optional(),
  cellDir: z.string().optional(),
});

export type VerificationRecord = z.output<typeof verificationSchema>;

export function writeVerification(dir: string, record: VerificationRecord): void {
  writeFileAtomic(path.join(dir, VERIFICATION_FILE), JSON.stringify(record, null, 2) + '\n', 0o644);
}

/** The recorded verification, or null when there is none (or it cannot be parsed: then it proves nothing). */
export async function readVerification(dir: string): Promise<VerificationRecord | null> {
  try {
    const parsed = verificationSchema.safeParse(JSON.parse(await readFile(path.join(dir, VERIFICATION_FILE), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
