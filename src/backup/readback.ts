// Reads each env's copy back (its file hash, and its entries' digests) as soon as the engine has written and
// fsynced it, while the next envs are still being copied: the read-back overlaps the copy instead of following it.
import path from 'node:path';
import { SynupError } from '../errors.js';
import { defaultWalkEngine, walkEnvs, type WalkEngine, type WalkOutcome } from '../lmdb/walk.js';
import type { CopyCellResult } from './copy.js';

export interface CopyWalk {
  engine: WalkEngine;
  outcomes: WalkOutcome[];
}

export interface ReadBack {
  /** Called by the copy for each env once its copy is complete on disk. */
  onEnvCopied(env: { path: string; snapshotDigest: boolean }): void;
  /** Every env of the copy read back (those the copy did not announce are read now), in `copy.envs` order. */
  finish(copy: CopyCellResult): Promise<CopyWalk>;
  /** Waits for the reads under way (the copy failed: its dir is about to be removed). */
  abandon(): Promise<void>;
}

/** At most `jobs` tasks at once; a finished task hands its slot to the next one waiting. */
function limiter(jobs: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < jobs) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/**
 * `digest`: walk every entry (the verification, or the manifest's digests of a live copy no snapshot digest covers).
 * Given as a function of whether the engine digested the snapshot it copied.
 */
export function readBackCopy(dst: string, options: { jobs: number; digest: (snapshotDigest: boolean) => boolean }): ReadBack {
  const limit = limiter(Math.max(1, options.jobs));
  const reads = new Map<string, Promise<{ engine: WalkEngine; outcome: WalkOutcome }>>();
  const read = (rel: string, digest: boolean) =>
    limit(async () => {
      const { engine, outcomes } = await walkEnvs([path.join(dst, rel)], { digest, fileHash: true, jobs: 1 });
      return { engine, outcome: outcomes[0]! };
    });
  const onEnvCopied: ReadBack['onEnvCopied'] = (env) => {
    if (!reads.has(env.path)) reads.set(env.path, read(env.path, options.digest(env.snapshotDigest)));
  };
  return {
    onEnvCopied,
    async finish(copy) {
      const snapshotDigest = copy.envs.every((env) => env.snapshot);
      for (const env of copy.envs) onEnvCopied({ path: env.path, snapshotDigest });
      const done = await Promise.all(copy.envs.map((env) => reads.get(env.path)!));
      done.forEach(({ outcome }, i) => {
        if (!outcome.ok) throw new SynupError('failed', `cannot read back the copy of ${copy.envs[i]!.path}: ${outcome.error}`);
      });
      return { engine: done[0]?.engine ?? defaultWalkEngine(), outcomes: done.map((d) => d.outcome) };
    },
    async abandon() {
      await Promise.allSettled(reads.values());
    },
  };
}
