import { AsyncLocalStorage } from 'node:async_hooks';
import { crashPointsWanted } from '../config/environment.js';

/** The service whose upgrade runs here (a deployment runs several in one process): its points are `<service>/<name>`. */
const scope = new AsyncLocalStorage<string>();

/**
 * Test-only crash points for the reliability suite: when SYNUP_CRASH_AT names this point, synup kills itself with
 * a real SIGKILL right here (no cleanup, no finally blocks), exactly like `kill -9` from an operator or the OOM killer.
 * Inside `withCrashScope(service, …)` the point is also reached as `<service>/<name>`.
 */
export function crashPoint(name: string): void {
  const wanted = crashPointsWanted();
  if (!wanted.length) return;
  const service = scope.getStore();
  if (wanted.includes(name) || (service !== undefined && wanted.includes(`${service}/${name}`))) process.kill(process.pid, 'SIGKILL');
}

/** Runs `fn` with its crash points also named `<service>/<point>` (one service's upgrade inside a deployment). */
export const withCrashScope = <T>(service: string, fn: () => Promise<T>): Promise<T> => scope.run(service, fn);
