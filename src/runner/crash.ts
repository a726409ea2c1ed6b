/**
 * Test-only crash points for the reliability suite: when SYNUP_CRASH_AT names this point, synup kills itself with
 * a real SIGKILL right here (no cleanup, no finally blocks), exactly like `kill -9` from an operator or the OOM killer.
 */
export function crashPoint(name: string): void {
  const wanted = process.env.SYNUP_CRASH_AT;
  if (wanted && wanted.split(',').includes(name)) process.kill(process.pid, 'SIGKILL');
}
