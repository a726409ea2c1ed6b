import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lmdb from 'lmdb';
import { SynupError } from '../errors.js';
import { readMeta, SUPPORTED_DATA_VERSION } from './format.js';

let checked: Promise<void> | undefined;

/**
 * Proves, once per process, that the loaded lmdb-js binary writes LMDB data format v1. The prebuilt (v2) binary
 * segfaults on Synapse's files, so this runs before the first Synapse env is opened.
 */
export function assertNativeDataV1(): Promise<void> {
  checked ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'synup-canary-'));
    try {
      const env = lmdb.open({ path: dir, noSubdir: false });
      await env.put('canary', 1);
      await env.close();
      const meta = await readMeta(path.join(dir, 'data.mdb'));
      if (meta.version !== SUPPORTED_DATA_VERSION) throw new Error(`format v${meta.version}`);
    } catch (error) {
      throw new SynupError('failed', `the installed lmdb-js is not built for LMDB data format v1 (${(error as Error).message}); opening Synapse's files with it would crash`, {
        hint: 'reinstall with `npm ci` (its postinstall builds lmdb-js from source with data v1; needs g++, make, python3)',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return checked;
}
