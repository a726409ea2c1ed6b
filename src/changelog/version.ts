/**
 * Versions, the one module for them: Synapse's releases are semver (compared with the semver package), a release
 * synup upgrades to is MAJOR.MINOR.PATCH, and Synapse stores and reports a version as a tuple [2, 181, 0].
 */
// The two semver functions synup needs, imported alone: the package's index loads ~40 modules (≈ 20 ms of startup).
import compare from 'semver/functions/compare.js';
import valid from 'semver/functions/valid.js';

/** Ascending order of two valid versions (-1, 0, 1); never by date. */
export const compareVersions = (a: string, b: string): number => compare(a, b);

/** The canonical form of a version ("v2.170.0" → "2.170.0"), or null when it is not MAJOR.MINOR.PATCH[-pre]. */
export const validVersion = (value: string): string | null => valid(value.trim());

/**
 * The one version rule of the whole product (plan, upgrade, every adapter): a Synapse release is MAJOR.MINOR.PATCH,
 * nothing more. A pre-release such as 2.250.0-rc1 has no image tag or venv and would fail at `start`, after stop.
 */
export const isReleaseVersion = (value: string): boolean => /^\d+\.\d+\.\d+$/.test(value);

/** Synapse's version tuple [2, 181, 0] (msgpack in cell:info, JSON from the API) → "2.181.0"; a "2.181.0" string as is; else null. */
export function versionFromTuple(value: unknown): string | null {
  if (Array.isArray(value) && value.length > 0 && value.every((n) => Number.isInteger(n) && n >= 0)) return value.join('.');
  if (typeof value === 'string' && /^\d+\.\d+\.\d+/.test(value)) return value;
  return null;
}
