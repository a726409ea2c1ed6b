import { crashPointsWanted } from '../config/environment.js';

/**
 * Test-only crash points for the reliability suite: when SYNUP_CRASH_AT names this point, synup kills itself with
 * a real SIGKILL right here (no cleanup, no finally blocks), exactly like `kill -9` from an operator or the OOM killer.
 */
export function crashPoint(name: string): void {
  if (crashPointsWanted().includes(name)) process.kill(process.pid, 'SIGKILL');
}
