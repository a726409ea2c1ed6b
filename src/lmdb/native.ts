import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { SynupError } from '../errors.js';
import { LOCAL_BUILD_DIR, lmdb, PREBUILD_DIR } from './binding.js';
import { readMeta, SUPPORTED_DATA_VERSION } from './format.js';
import { nativeHelperDisabled } from '../config/environment.js';

let checked: Promise<void> | undefined;

/**
 * Proves, once per process, that the loaded lmdb-js binary writes LMDB data format v1. The prebuilt (v2) binary
 * segfaults on Synapse's files, so this runs before the first Synapse env is opened.
 */
export function assertNativeDataV1(): Promise<void> {
  checked ??= (async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'synup-canary-'));
    try {
      const env = lmdb().open({ path: dir, noSubdir: false });
      await env.put('canary', 1);
      await env.close();
      const meta = await readMeta(path.join(dir, 'data.mdb'));
      if (meta.version !== SUPPORTED_DATA_VERSION) throw new Error(`format v${meta.version}`);
    } catch (error) {
      if (error instanceof SynupError) throw error;
      throw new SynupError('failed', `synup's LMDB binding does not write LMDB data format v1 (${(error as Error).message}); opening Synapse's files with it would crash`, {
        hint: 'run `npm rebuild synup` (builds the binding from source with data v1; needs g++, make, python3)',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return checked;
}

const HELPER = 'synup-mdb-copy';

/**
 * The built-in C helper (LMDB 0.9.29, data v1): the one built at install (native/build/, when the prebuild did not
 * run here), else the static prebuild shipped for this machine; null when neither is there. `SYNUP_NO_NATIVE=1`
 * hides it (tests, fallbacks).
 */
export function nativeHelperPath(env?: NodeJS.ProcessEnv): string | null {
  if (nativeHelperDisabled(env)) return null;
  for (const file of [path.join(LOCAL_BUILD_DIR, HELPER), path.join(PREBUILD_DIR, HELPER)]) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next candidate
    }
  }
  return null;
}

/** A B-tree's shape as the helper reports it. */
interface HelperTree {
  depth: number;
  branch: number;
  leaf: number;
  overflow: number;
  entries: number;
}

/** One named sub-database of an `env` event (`name` in hex: Synapse's names are bytes). */
export interface HelperDb {
  name: string;
  flags: number;
  depth?: number;
  branch?: number;
  leaf?: number;
  overflow?: number;
  entries: number;
  recordEntries?: number;
  digest?: string;
}

/**
 * The native helper's protocol, the one module that reads it: one JSON object a line on stdout, as
 * native/synup-copy.c prints them; `env` is the index of the env among the helper's arguments.
 */
export type HelperEvent =
  | { event: 'snapshot'; envs: number }
  | { event: 'start'; env: number; txnid: number; bytesTotal: number }
  | { event: 'progress'; env: number; bytes: number }
  | { event: 'copied'; env: number; bytes: number; ms: number }
  | { event: 'env'; env: number; pageSize: number; mapSize: number; lastPage: number; txnid: number; freePages: number; main: HelperTree; dbs: HelperDb[]; digest?: string }
  | { event: 'filehash'; env: number; bytes: number; fileHash: string }
  | { event: 'error'; env?: number; message: string }
  | { event: 'value'; key: string; value: string | null }
  | { event: 'nodb' };

export type HelperEventOf<K extends HelperEvent['event']> = Extract<HelperEvent, { event: K }>;

export interface HelperRun {
  exitCode: number | undefined;
  /** Set when the helper died from a signal (e.g. SIGSEGV reading corrupt pages). */
  signal: string | undefined;
  stderr: string;
  events: HelperEvent[];
}

/** Runs the helper with an argument array, streaming its JSON-line events to `onEvent` as they come. */
export async function runHelper(args: string[], options: { onEvent?: (event: HelperEvent) => void } = {}): Promise<HelperRun> {
  const helper = nativeHelperPath();
  if (!helper) throw new SynupError('failed', `the built-in LMDB helper is missing (no ${path.join('prebuilds', path.basename(PREBUILD_DIR), HELPER)}, none built in native/build/)`, { hint: 'run `npm rebuild synup` (needs a C compiler), or pick another engine' });
  const child = execa(helper, args, { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true } });
  const events: HelperEvent[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (!line.startsWith('{')) return;
    const event = JSON.parse(line) as HelperEvent;
    events.push(event);
    options.onEvent?.(event);
  });
  const result = await child;
  return { exitCode: result.exitCode, signal: result.signal, stderr: String(result.stderr ?? ''), events };
}
