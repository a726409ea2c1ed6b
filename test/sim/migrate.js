// The sim's migrations, with the real Cortex's log lines in the real order (DESIGN.md, "The real Synapse, observed"):
// storage migrations while booting, before the HTTPS listener; data-model migrations in the background once the
// cell is active — "beginning model migration -> (0, 2, N)" … "...model migrations complete!".
import { setTimeout as sleep } from 'node:timers/promises';
import { die, log } from './log.js';
import { STORAGE_VERS } from './migrations.js';
import { MIGRATION_BATCH } from './storage.js';
import { compareTuples, pyTuple } from './versions.js';

/** @typedef {import('./storage.js').SimStorage} SimStorage */

/** Resolves false instead of throwing when the stop signal ends the wait. @param {number} ms @param {AbortSignal} signal */
const pause = (ms, signal) => sleep(ms, true, { signal }).catch(() => false);

/**
 * Runs the storage migrations the data has not had yet (cell:vers sim:storage counts them), each rewriting every
 * node in committed batches over `durationMs`. Stops between batches when `signal` aborts.
 * @param {{ storage: SimStorage, migrations: string[], durationMs: number, dieMidway: boolean, signal: AbortSignal }} options
 * @returns {Promise<number>} how many ran to completion
 */
export async function runStorageMigrations({ storage, migrations, durationMs, dieMidway, signal }) {
  const pending = migrations.slice(storage.getVers(STORAGE_VERS));
  if (dieMidway && pending.length === 0) log.warning('fault die-mid-migration: no storage migration to die in', 'cell.py:initServiceStorage');
  let completed = 0;
  for (const release of pending) {
    log.warning('Migrating Drive Slabs', 'cell.py:_driveCellMigration');
    const keys = storage.nodeKeys();
    const batches = Math.max(1, Math.ceil(keys.length / MIGRATION_BATCH));
    const half = Math.floor(keys.length / 2);
    for (let done = 0, batch = 0; batch < batches; batch++) {
      const slice = keys.slice(done, dieMidway ? Math.min(done + MIGRATION_BATCH, half) : done + MIGRATION_BATCH);
      storage.markMigrated(slice, release);
      done += slice.length;
      if (dieMidway && done >= half) {
        die('synapse.exc.SynErr', `died in the middle of the ${release} storage migration after rewriting ${done}/${keys.length} nodes (fault die-mid-migration)`);
      }
      if (!(await pause(durationMs / batches, signal))) return completed;
    }
    log.warning(`Migrated ${keys.length} rows`, 'cell.py:_driveCellMigration');
    log.warning('...Drive migration complete!', 'cell.py:_driveCellMigration');
    log.warning('Building user email index for Cell (cortex)', 'cell.py:_storUserEmailIndexMigration');
    log.warning('...user email index for Cell (cortex) complete!', 'cell.py:_storUserEmailIndexMigration');
    storage.setVers(STORAGE_VERS, storage.getVers(STORAGE_VERS) + 1);
    completed++;
  }
  return completed;
}

/**
 * The background model migration of an active cell (Synapse's ModelRev.revCoreLayers): for each revision some
 * layer is below, logs "beginning model migration -> (0, 2, N)", works for `durationMs`, then records the
 * revision in those layers' model:version. The first line is logged before this returns its promise (so before
 * the caller opens the listener, as the real Cortex logs it); nothing is logged when no layer needs a revision.
 * Each revision runs Storm (as 0.2.36's runStorm), so it first waits for `storm` (the parser pool) to be ready.
 * @param {{ storage: SimStorage, revisions: { revision: number[] }[], durationMs: number, signal: AbortSignal, storm: import('./storm-pool.js').StormPool }} options
 * @returns {Promise<boolean>} whether every revision was applied
 */
export async function runModelMigrations({ storage, revisions, durationMs, signal, storm }) {
  const layers = storage.layerIdens();
  const todo = revisions.filter(({ revision }) => layers.some((iden) => compareTuples(storage.layerModel(iden), revision) < 0));
  if (todo.length === 0) return true;
  for (const { revision } of todo) {
    log.warning(`beginning model migration -> ${pyTuple(revision)}`, 'modelrev.py:revCoreLayers');
    await storm.ready();
    if (!(await pause(durationMs, signal))) return false;
    for (const iden of layers) if (compareTuples(storage.layerModel(iden), revision) < 0) storage.setLayerModel(iden, revision);
  }
  log.warning('...model migrations complete!', 'modelrev.py:revCoreLayers');
  return true;
}
