import { statSync } from 'node:fs';

/**
 * The names of what synup puts beside a dir (`<dir>.synup-*`), the one module for them: what an upgrade run, a restore
 * and a backup create next to the cell, the target or the backup. Each name says synup made it and carries an id.
 */

/** The dirs one run may create next to the cell dir; names carry the run id so runs never collide. */
export function runDirs(cellDir: string, runId: string) {
  return {
    staging: `${cellDir}.synup-staging-${runId}`,
    pre: `${cellDir}.synup-pre-${runId}`,
    failed: `${cellDir}.synup-failed-${runId}`,
    /** Online defrag: the compacted mirror that follows the running cell and is swapped in at downtime. */
    shadow: `${cellDir}.synup-shadow-${runId}`,
  };
}

/** What a restore puts beside its target: the copy being restored, and a non-empty target moved aside (never deleted). */
export function restoreDirs(target: string, stamp: string) {
  return {
    restoring: `${target}.synup-restoring-${stamp}`,
    replaced: `${target}.synup-replaced-${stamp}`,
  };
}

/** The marker beside a backup being written (its writer's pid): `<dst>.synup-partial`. */
export const PARTIAL_SUFFIX = '.synup-partial';

/** The inode at a path, or null when nothing is there: how synup recognises a dir it recorded. */
export function inodeOf(p: string): number | null {
  try {
    return statSync(p).ino;
  } catch {
    return null;
  }
}
