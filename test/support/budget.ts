// Time budgets that grow with the machine's load, so that a busy machine gets a longer wait, never a false failure.
import os from 'node:os';

/**
 * How much slower than an idle machine this one runs now: the 1-minute load average per core (at least 1), read when
 * the test file starts; SYNUP_TEST_SLOWDOWN overrides it. Under `stress-ng --cpu 4` plus the suite on 2 cores: ~3–4.
 */
export const slowdown: number = Number(process.env.SYNUP_TEST_SLOWDOWN) || Math.max(1, os.loadavg()[0]! / os.cpus().length);

/** `ms` as measured on an idle machine, stretched by the load now and twice that for headroom. */
export const budget = (ms: number): number => Math.round(ms * slowdown * 2);

/** A duration setting (`health.startTimeout: 15s`) of `seconds` on an idle machine, stretched like budget(). */
export const budgetSetting = (seconds: number): string => `${Math.ceil(budget(seconds * 1000) / 1000)}s`;

/**
 * Polls `probe` every `intervalMs` until it returns something truthy (returned), or throws `what` not happening
 * within budget(`timeoutMs`). A condition to wait on, never a fixed sleep.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, what: string, { timeoutMs = 10_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + budget(timeoutMs);
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${budget(timeoutMs)} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
