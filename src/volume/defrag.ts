import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { copyCell } from '../backup/copy.js';
import { compareDigests, digestCell, envDigestOf, type CellDigest } from '../backup/digest.js';
import type { Engine } from '../backup/engines.js';
import { SynupError } from '../errors.js';
import { renameDurable, writeFileAtomic } from '../fsutil.js';
import type { VolumeDefragResult } from './result.js';

/**
 * Cold defrag of a cell dir that is a volume's mount point (a PVC at /vertex/storage): the dir itself cannot be
 * renamed, so the compacted copy is written inside it (`.synup-defrag-<run>/new`), verified, and swapped entry by
 * entry: `<cell>/E` → `.synup-defrag-<run>/pre/E`, then `new/E` → `<cell>/E`. Each rename is atomic and durable; the
 * work dir's state.json says how far the swap got, so running the same op again finishes it and `undo` reverses it.
 */
interface VolumeDefragOptions {
  cellDir: string;
  runId: string;
  engine?: Engine;
  jobs?: number;
  signal?: AbortSignal;
}

interface DefragState {
  phase: 'verified' | 'swapped' | 'undone';
  entries: string[];
  bytesBefore: number;
  bytesAfter: number;
  engine: string;
}

/** Runtime dirs of a Cortex that are not data (as the local cold defrag); synup's own work dirs are never copied. */
const SKIP = ['**/tmp', '**/sockets', '.synup-defrag-*'];
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function volumeWorkDir(cellDir: string, runId: string): string {
  if (!RUN_ID.test(runId)) throw new SynupError('usage', `run id ${JSON.stringify(runId)} is not a plain name (letters, digits, _ . -)`);
  return path.join(cellDir, `.synup-defrag-${runId}`);
}

const statePath = (work: string) => path.join(work, 'state.json');
/** Written first: the work dir is synup's (an undo may remove it when nothing was swapped yet). */
const ownerPath = (work: string) => path.join(work, 'owner.json');

function readState(work: string): DefragState | null {
  return existsSync(statePath(work)) ? (JSON.parse(readFileSync(statePath(work), 'utf8')) as DefragState) : null;
}

function moveIfPresent(from: string, to: string): boolean {
  if (!existsSync(from) || existsSync(to)) return false;
  renameDurable(from, to);
  return true;
}

async function compactAndVerify(options: VolumeDefragOptions, work: string): Promise<DefragState> {
  const staging = path.join(work, 'new');
  rmSync(staging, { recursive: true, force: true });
  const result = await copyCell({ src: options.cellDir, dst: staging, mode: 'cold', engine: options.engine ?? 'auto', jobs: options.jobs, skipDirs: SKIP, digest: true, signal: options.signal });
  const expected: CellDigest = result.envs.every((e) => e.snapshot)
    ? { dir: options.cellDir, engine: 'native', envs: result.envs.map((e) => envDigestOf(e.path, e.snapshot!)) }
    : await digestCell(options.cellDir, { skipDirs: SKIP });
  const problems = compareDigests(expected, await digestCell(staging, { skipDirs: SKIP }));
  if (problems.length > 0) {
    throw new SynupError('failed', `the compacted copy does not match the stopped cell: ${problems.slice(0, 3).map((p) => p.message).join('; ')}`, { hint: 'nothing was swapped; the cell is untouched' });
  }
  const state: DefragState = { phase: 'verified', entries: readdirSync(staging).sort(), bytesBefore: result.bytesBefore, bytesAfter: result.bytesAfter, engine: result.engine };
  writeFileAtomic(statePath(work), JSON.stringify(state));
  return state;
}

/** Compacts, verifies, swaps; idempotent for one run id (a second call finishes an interrupted swap). */
export async function defragVolume(options: VolumeDefragOptions): Promise<VolumeDefragResult> {
  const started = Date.now();
  const work = volumeWorkDir(options.cellDir, options.runId);
  mkdirSync(work, { recursive: true, mode: 0o700 });
  if (!existsSync(ownerPath(work))) writeFileAtomic(ownerPath(work), JSON.stringify({ createdBy: 'synup volume-job defrag', runId: options.runId }));
  const state = readState(work) ?? (await compactAndVerify(options, work));
  if (state.phase === 'undone') throw new SynupError('refused', `the defrag of run ${options.runId} was undone: its work dir ${work} is the rollback's`, { hint: 'use a new run id' });
  const pre = path.join(work, 'pre');
  mkdirSync(pre, { recursive: true, mode: 0o700 });
  for (const entry of state.entries) {
    moveIfPresent(path.join(options.cellDir, entry), path.join(pre, entry));
    moveIfPresent(path.join(work, 'new', entry), path.join(options.cellDir, entry));
  }
  writeFileAtomic(statePath(work), JSON.stringify({ ...state, phase: 'swapped' }));
  return { workDir: work, swapped: state.entries, bytesBefore: state.bytesBefore, bytesAfter: state.bytesAfter, engine: state.engine, durationMs: Date.now() - started };
}

/**
 * Puts the pre-defrag entries back (the compacted ones go to `failed/`): the rollback of `defragVolume`. A defrag
 * that stopped before its copy was verified swapped nothing: its work dir (synup's, by owner.json) is removed.
 */
export function undoVolumeDefrag(cellDir: string, runId: string): { restored: string[] } {
  const work = volumeWorkDir(cellDir, runId);
  const state = readState(work);
  if (!state && existsSync(ownerPath(work))) {
    rmSync(work, { recursive: true, force: true });
    return { restored: [] };
  }
  if (!state) throw new SynupError('refused', `${work} has no synup defrag state: nothing of this run to undo`, { hint: 'check the run id (synup history)' });
  const failed = path.join(work, 'failed');
  mkdirSync(failed, { recursive: true, mode: 0o700 });
  const restored: string[] = [];
  for (const entry of state.entries) {
    if (!existsSync(path.join(work, 'pre', entry))) continue;
    moveIfPresent(path.join(cellDir, entry), path.join(failed, entry));
    if (moveIfPresent(path.join(work, 'pre', entry), path.join(cellDir, entry))) restored.push(entry);
  }
  writeFileAtomic(statePath(work), JSON.stringify({ ...state, phase: 'undone' }));
  return { restored };
}
