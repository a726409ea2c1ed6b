import { statSync } from 'node:fs';

/** The dirs one run may create next to the cell dir; names carry the run id so runs never collide. */
export function runDirs(cellDir: string, runId: string) {
  return {
    staging: `${cellDir}.synup-staging-${runId}`,
    pre: `${cellDir}.synup-pre-${runId}`,
    failed: `${cellDir}.synup-failed-${runId}`,
  };
}

export function inodeOf(p: string): number | null {
  try {
    return statSync(p).ino;
  } catch {
    return null;
  }
}
