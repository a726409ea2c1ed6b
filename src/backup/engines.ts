import { accessSync, constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { SynupError } from '../errors.js';
import { nativeHelperPath, runHelper } from '../lmdb/native.js';
import { envWalkFromEvent } from '../lmdb/walk.js';
import { keepTail } from '../proc.js';
import type { EnvWalk } from '../lmdb/dbinfo.js';
import { fsyncPath, runPool } from './files.js';
import { searchPath } from '../config/environment.js';

export type Engine = 'auto' | 'builtin' | 'mdb_copy' | 'lmdb-js' | 'synapse';
export type EngineName = Exclude<Engine, 'auto'>;

/** One env to compact: its dir, and the env dir of the copy (data.mdb is written inside). */
export interface EnvCopyJob {
  rel: string;
  src: string;
  out: string;
}

export interface EnvCopyResult {
  bytesAfter: number;
  durationMs: number;
  /** Digest of the exact snapshot that was copied (builtin with `digest`). */
  snapshot?: EnvWalk;
}

export interface EngineRun {
  jobs: number;
  /** builtin: also walk each pinned snapshot after copying it (digests of what was copied). */
  digest: boolean;
  onBytes: (index: number, bytesDone: number, bytesTotal?: number) => void;
  /** The copy of one env is complete and fsynced (it may be read back while the others are copied). */
  onCopied: (index: number) => void;
}

export function findExecutable(name: string, pathEnv = searchPath()): string | null {
  for (const dir of pathEnv.split(':').filter(Boolean)) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** Synapse's backup module as the configured python can import it (new name first), or null. */
export async function synapseBackupModule(python: string): Promise<string | null> {
  for (const module of ['synapse.tools.service.backup', 'synapse.tools.backup']) {
    const probe = await execa(python, ['-c', `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(module)}) else 1)`], { reject: false, stdin: 'ignore', timeout: 30_000 });
    if (probe.exitCode === 0) return module;
  }
  return null;
}

/** `auto` = builtin if built, else mdb_copy if installed, else lmdb-js. An explicit engine that is missing is refused. */
export async function resolveEngine(requested: Engine, options: { python?: string } = {}): Promise<EngineName> {
  const unavailable = (why: string, hint: string) => new SynupError('refused', `compact-copy engine ${requested}: ${why}`, { hint });
  switch (requested) {
    case 'auto':
      return nativeHelperPath() ? 'builtin' : findExecutable('mdb_copy') ? 'mdb_copy' : 'lmdb-js';
    case 'builtin':
      if (!nativeHelperPath()) throw unavailable('the built-in LMDB helper is missing (no prebuild for this machine, none built at install)', 'run `npm rebuild synup` with a C compiler installed, or use --engine mdb_copy / lmdb-js');
      return 'builtin';
    case 'mdb_copy':
      if (!findExecutable('mdb_copy')) throw unavailable('mdb_copy is not on PATH', 'install lmdb-utils (apt-get install lmdb-utils), or use --engine builtin');
      return 'mdb_copy';
    case 'synapse':
      if (!(await synapseBackupModule(options.python ?? 'python3'))) {
        throw unavailable(`${options.python ?? 'python3'} cannot import synapse.tools.service.backup`, 'set backup.python in synup.yaml to the python of the Synapse install, or pick another engine');
      }
      return 'synapse';
    default:
      return requested;
  }
}

/** Our C helper: read txns on every env first (one snapshot), then compaction `jobs` at a time, fsynced. */
async function copyBuiltin(jobs: EnvCopyJob[], run: EngineRun): Promise<EnvCopyResult[]> {
  const results: EnvCopyResult[] = jobs.map(() => ({ bytesAfter: 0, durationMs: 0 }));
  const errors: string[] = [];
  const args = ['copy', '-j', String(run.jobs), '-p', '500', ...(run.digest ? ['-d'] : []), '--', ...jobs.flatMap((job) => [job.src, path.join(job.out, 'data.mdb')])];
  const helper = await runHelper(args, {
    onEvent: (event) => {
      if (event.event === 'start') run.onBytes(event.env, 0, event.bytesTotal);
      else if (event.event === 'progress') run.onBytes(event.env, event.bytes);
      else if (event.event === 'copied') {
        results[event.env] = { ...results[event.env], bytesAfter: event.bytes, durationMs: event.ms };
        run.onBytes(event.env, event.bytes, event.bytes);
        run.onCopied(event.env);
      } else if (event.event === 'env') results[event.env]!.snapshot = envWalkFromEvent(jobs[event.env]!.src, event);
      else if (event.event === 'error' && event.env !== undefined) errors.push(`${jobs[event.env]!.rel}: ${event.message}`);
    },
  });
  if (errors.length > 0 || helper.exitCode !== 0) {
    const why = errors.join('; ') || (helper.signal ? `the helper died (${helper.signal})` : helper.stderr.trim() || `exit ${helper.exitCode}`);
    throw new SynupError('failed', `compact copy failed: ${why}`, { hint: 'the source is untouched; check free space and that every env is readable (`synup inspect`)' });
  }
  return results;
}

/** Polls a growing output file's size for progress while an external tool writes it. */
async function watchSize<T>(handle: { stat(): Promise<{ size: number }> }, onSize: (size: number) => void, work: Promise<T>): Promise<T> {
  const timer = setInterval(() => {
    handle.stat().then((st) => onSize(st.size), () => undefined);
  }, 500);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** lmdb-utils' `mdb_copy -c SRC` with its stdout on a descriptor we opened (no O_DIRECT), then fsync. */
async function copyMdbCopy(jobs: EnvCopyJob[], run: EngineRun): Promise<EnvCopyResult[]> {
  const mdbCopy = findExecutable('mdb_copy')!;
  return runPool(jobs, run.jobs, async (job, index) => {
    const started = Date.now();
    const handle = await open(path.join(job.out, 'data.mdb'), 'wx', 0o600);
    try {
      const stdout = handle.fd as 3; // execa's types list fds 3–9 only; any open descriptor works (DESIGN.md)
      // Only the end of its stderr is kept (its error), never all it might print.
      const child = execa(mdbCopy, ['-c', job.src], { stdin: 'ignore', stdout, stderr: 'pipe', buffer: false, reject: false });
      const stderr = keepTail(child.stderr);
      const result = await watchSize(handle, (size) => run.onBytes(index, size), child);
      if (result.exitCode !== 0) throw new SynupError('failed', `mdb_copy -c ${job.src} failed: ${stderr().trim().split('\n').slice(-3).join(' / ') || `exit ${result.exitCode ?? result.signal}`}`);
      await handle.sync();
      const { size } = await handle.stat();
      run.onBytes(index, size, size);
      run.onCopied(index);
      return { bytesAfter: size, durationMs: Date.now() - started };
    } finally {
      await handle.close();
    }
  });
}

/** lmdb-js `env.backup(dir, true)`: LMDB's path-based copy (O_DIRECT, slow); the fallback that needs nothing else. */
async function copyLmdbJs(jobs: EnvCopyJob[], run: EngineRun): Promise<EnvCopyResult[]> {
  const { withReadOnlyEnv } = await import('../lmdb/open.js');
  return runPool(jobs, run.jobs, async (job, index) => {
    const started = Date.now();
    const out = path.join(job.out, 'data.mdb');
    await withReadOnlyEnv(job.src, (env) => env.backup(job.out, true));
    await fsyncPath(out);
    const handle = await open(out, 'r');
    const { size } = await handle.stat().finally(() => handle.close());
    run.onBytes(index, size, size);
    run.onCopied(index);
    return { bytesAfter: size, durationMs: Date.now() - started };
  });
}

export const envCopiers: Record<Exclude<EngineName, 'synapse'>, (jobs: EnvCopyJob[], run: EngineRun) => Promise<EnvCopyResult[]>> = {
  builtin: copyBuiltin,
  mdb_copy: copyMdbCopy,
  'lmdb-js': copyLmdbJs,
};
