/**
 * The process environment, the one module that reads it (tests hand their own to main() and to adapters). synup's
 * settings come from it through load.ts (SYNUP_*); these are the switches read where they act.
 */
export const processEnv = (): NodeJS.ProcessEnv => process.env;

/** SYNUP_NO_NATIVE=1: act as if the built-in LMDB helper were missing (tests, fallbacks). */
export const nativeHelperDisabled = (env: NodeJS.ProcessEnv = process.env): boolean => env.SYNUP_NO_NATIVE === '1';

/** SYNUP_CRASH_AT: the test-only crash points to die at (runner/crash.ts). */
export const crashPointsWanted = (): string[] => (process.env.SYNUP_CRASH_AT ?? '').split(',').filter(Boolean);

/** Where executables are looked up: $PATH. */
export const searchPath = (env: NodeJS.ProcessEnv = process.env): string => env.PATH ?? '';
