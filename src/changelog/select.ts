import { SynupError } from '../errors.js';
import type { Changelog, Release } from './model.js';
import { compareVersions, isReleaseVersion, validVersion } from './version.js';

/** "2.170.0", "v2.170.0" → "2.170.0"; anything else is a usage error that shows what was received. */
export function normalizeVersion(value: string, flag: string): string {
  const v = validVersion(value.trim().replace(/^v/, ''));
  if (!v || !isReleaseVersion(v)) throw new SynupError('usage', `${flag}: ${JSON.stringify(value)} is not a version; expected MAJOR.MINOR.PATCH, e.g. 2.170.0`);
  return v;
}

function nearest(changelog: Changelog, version: string): string {
  const versions = changelog.releases.map((r) => r.version);
  const below = versions.filter((v) => compareVersions(v, version) < 0).at(-1);
  const above = versions.find((v) => compareVersions(v, version) > 0);
  return [below, above].filter(Boolean).join(' and ') || 'none';
}

function findRelease(changelog: Changelog, version: string, flag: string): Release {
  const release = changelog.releases.find((r) => r.version === version);
  if (!release) {
    const hint = changelog.cachedFile
      ? `check the version; if it is newer than the copy of the changelog fetched earlier, delete ${changelog.cachedFile} to fetch it again`
      : 'check the version, or use a newer changelog';
    throw new SynupError('usage', `${flag} ${version} is not a release in ${changelog.source}; nearest known: ${nearest(changelog, version)}`, { hint });
  }
  return release;
}

/**
 * The releases in (from, to], ascending. Refuses, in this order: a malformed version, equal versions (usage), a
 * downgrade (refused: Synapse cannot go back), a version the changelog does not know (usage, naming the nearest).
 */
export function selectReleases(changelog: Changelog, fromRaw: string, toRaw: string, fromLabel = '--from'): Release[] {
  const from = normalizeVersion(fromRaw, fromLabel);
  const to = normalizeVersion(toRaw, '--to');
  if (compareVersions(from, to) === 0) throw new SynupError('usage', `${fromLabel} and --to are both ${to}: nothing to upgrade`);
  if (compareVersions(to, from) < 0) {
    throw new SynupError('refused', `refusing to downgrade from ${from} to ${to}: Synapse refuses to boot on data written by a newer version (BadVersion)`, {
      hint: 'to go back, restore a backup taken before the upgrade (`synup rollback` while the rollback point is kept)',
    });
  }
  findRelease(changelog, from, fromLabel);
  findRelease(changelog, to, '--to');
  return changelog.releases.filter((r) => compareVersions(r.version, from) > 0 && compareVersions(r.version, to) <= 0);
}
