import { Journal, type RunRecord } from '../runner/journal.js';

/**
 * The latest single-cell run of `cellDir` when it did not end (running, or its rollback not finished: synup was killed
 * during a service's upgrade), else null. Its cell dir may then be mid-swap (renamed aside, staging not yet in place).
 */
export async function unfinishedCellRun(stateDir: string, cellDir: string): Promise<RunRecord | null> {
  if (!Journal.exists(stateDir)) return null;
  const journal = Journal.open(stateDir);
  try {
    const latest = journal.latest(cellDir);
    return latest && ['running', 'rolling-back', 'rollback-failed'].includes(latest.outcome) ? latest : null;
  } finally {
    await journal.close();
  }
}
