import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import type * as Lmdb from 'lmdb';
import { lmdb } from './binding.js';
import { readMeta, type MetaInfo } from './format.js';
import { assertNativeDataV1 } from './native.js';

/** Synapse keys are raw bytes and values msgpack: synup reads both as bytes and decodes values itself. */
export const BINARY = { encoding: 'binary', keyEncoding: 'binary' } as const;

/**
 * Opens an env read-only with lmdb-js, after checking its meta page (format v1, not truncated) and the loaded
 * binary (data v1), runs `fn`, and closes it. LMDB creates a lock.mdb even for readers: one that was not there
 * before is removed again, so reading a backup never leaves a lock file in it.
 */
export async function withReadOnlyEnv<T>(dir: string, fn: (env: Lmdb.RootDatabase<Buffer, Buffer>, meta: MetaInfo) => Promise<T> | T): Promise<T> {
  const meta = await readMeta(path.join(dir, 'data.mdb'));
  await assertNativeDataV1();
  const lockFile = path.join(dir, 'lock.mdb');
  const hadLock = existsSync(lockFile);
  const env = lmdb().open<Buffer, Buffer>({ path: dir, noSubdir: false, readOnly: true, maxDbs: meta.mainEntries * 2 + 64, ...BINARY });
  try {
    return await fn(env, meta);
  } finally {
    await env.close();
    if (!hadLock) rmSync(lockFile, { force: true });
  }
}

/** Opens a named sub-db of a read-only env; undefined when it does not exist. */
export function openSubDb(env: Lmdb.RootDatabase<Buffer, Buffer>, name: string, dupSort = false): Lmdb.Database<Buffer, Buffer> | undefined {
  return env.openDB<Buffer, Buffer>({ name, dupSort, ...BINARY }) as Lmdb.Database<Buffer, Buffer> | undefined;
}
