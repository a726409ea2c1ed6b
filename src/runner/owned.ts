import { rm } from 'node:fs/promises';
import type { StepContext } from './context.js';
import type { OwnedDir, RunRecord } from './journal.js';
import { inodeOf, runDirs } from '../siblings.js';

/**
 * The run's dir of this kind while synup still owns it (recorded and not yet pruned or renamed back), else null. The
 * path is always runDirs(cell dir, run id): the journal records which of them exist as synup's, never their names.
 */
export function ownedRunDir(run: RunRecord, kind: OwnedDir['kind']): string | null {
  return run.owned.some((o) => o.kind === kind) ? runDirs(run.cellDir, run.id)[kind] : null;
}

/** Records a dir synup made (or renamed into place) so that prune/cleanup may later remove it — and nothing else. */
export function recordOwned(ctx: StepContext, dir: string, kind: OwnedDir['kind'], ino: number): void {
  ctx.update((run) => {
    run.owned = run.owned.filter((o) => o.path !== dir);
    run.owned.push({ path: dir, kind, ino, createdAt: new Date().toISOString() });
  });
}

/**
 * Removes the staging dir of this run (its name carries the run id) once its inode is known, only the very same
 * dir. Anything else at that path is left alone.
 */
export async function removeStaging(ctx: StepContext): Promise<void> {
  const staging = runDirs(ctx.cellDir, ctx.run.id).staging;
  const ino = inodeOf(staging);
  if (ino === null) return;
  const owned = ctx.run.owned.find((o) => o.path === staging && o.kind === 'staging');
  if (owned && owned.ino !== ino) return;
  await rm(staging, { recursive: true, force: true });
  ctx.update((run) => {
    run.owned = run.owned.filter((o) => o.path !== staging);
  });
}
