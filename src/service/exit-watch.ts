import { setTimeout as sleep } from 'node:timers/promises';
import { SynupError } from '../errors.js';
import type { ServiceAdapter } from './adapter.js';

/** The instance synup started exited while synup waited for it to become healthy. */
export class ServiceExited extends SynupError {
  constructor(readonly how: string) {
    super('failed', how, { hint: 'see `synup logs -n 50` for the whole of what it wrote' });
  }
}

const WATCH_MS = 200;

/**
 * Runs `wait` (a health wait) while watching the instance this synup process started: once it has exited, the wait
 * ends at once with how it ended and its last error line (ServiceExited), instead of waiting out its deadline. An
 * instance recorded by an earlier synup process is not watched (something else may serve the cell by now); adapters
 * that cannot tell (their tool owns the service) just wait.
 */
export async function unlessExited(adapter: ServiceAdapter, signal: AbortSignal, wait: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const problem = adapter.startedInstanceProblem?.bind(adapter);
  if (!problem) return wait(signal);
  const done = new AbortController();
  const waiting = wait(AbortSignal.any([signal, done.signal]));
  waiting.catch(() => undefined);
  const watching = (async (): Promise<string | null> => {
    while (!done.signal.aborted) {
      const exited = await problem('exited', { startedHere: true });
      if (exited) return exited;
      await sleep(WATCH_MS, undefined, { signal: done.signal }).catch(() => undefined);
    }
    return null;
  })();
  try {
    const exited = await Promise.race([waiting.then(() => null), watching]);
    if (exited) throw new ServiceExited(exited);
  } catch (error) {
    if (error instanceof ServiceExited) throw error;
    // The wait failed (deadline, not this cell…): if the instance is gone meanwhile, that is the reason to give.
    const exited = await problem('exited', { startedHere: true });
    throw exited ? new ServiceExited(exited) : error;
  } finally {
    done.abort();
    await watching;
  }
}
