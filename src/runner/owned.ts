import { rm } from 'node:fs/promises';
import type { StepContext } from './context.js';
import type { OwnedDir } from './journal.js';
import { inodeOf } from '../siblings.js';

/** Records a dir synup made (or renamed into place) so that prune/cleanup may later remove it — and nothing else. */
export function recordOwned(ctx: StepContext, dir: string, kind: OwnedDir['kind'], ino: number): void {
  ctx.update((run) => {
    run.owned = run.owned.filter((o) => o.path !== dir);
    run.owned.push({ path: dir, kind, ino, createdAt: new Date().toISOString() });
  });
}

/**
 * Removes a staging dir of this run: only when it is the journal's staging path and, once its inode is known,
 * the very same dir. Anything else at that path is left alone.
 */
export async function removeStaging(ctx: StepContext): Promise<void> {
  const staging = ctx.run.data.stagingDir;
  if (!staging) return;
  const ino = inodeOf(staging);
  if (ino === null) return;
  const owned = ctx.run.owned.find((o) => o.path === staging && o.kind === 'staging');
  if (owned && owned.ino !== ino) return;
  await rm(staging, { recursive: true, force: true });
  ctx.update((run) => {
    run.owned = run.owned.filter((o) => o.path !== staging);
  });
}
