// Which sim versions migrate data: the releases with an "Automatic Migrations" section in
// changelogs/sim-CHANGELOG.rst. A minimal reader on purpose (release headers and section titles only): the sim must
// run without synup's build. Each migrating release brings one storage migration (before the listener) and one
// data-model revision (after it); storage and model progress are kept in the data, as Synapse keeps them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareVersions } from './versions.js';

export const SIM_CHANGELOG = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'changelogs', 'sim-CHANGELOG.rst');

/** cell:vers key counting the sim's storage migrations applied to the data. */
export const STORAGE_VERS = 'sim:storage';

/** The model version of data no migrating release has touched. */
const BASE_MODEL = [0, 2, 30];

/**
 * Versions of the releases with an "Automatic Migrations" section (the devops guide's "Automated" too), ascending.
 * @param {string} [file]
 * @returns {string[]}
 */
export function migratingReleases(file = SIM_CHANGELOG) {
  const lines = readFileSync(file, 'utf8').split(/\r?\n/);
  /** @type {string[]} */
  const found = [];
  /** @type {string | null} */
  let release = null;
  for (let i = 0; i < lines.length - 1; i++) {
    const title = lines[i].trim();
    const underline = lines[i + 1].trim();
    const header = /^v(\d+\.\d+\.\d+) - \d{4}-\d{2}-\d{2}$/.exec(title);
    if (header && /^=+$/.test(underline)) release = header[1];
    else if (release && /^automat(ic|ed) migrations$/i.test(title) && /^-+$/.test(underline) && !found.includes(release)) found.push(release);
  }
  return found.sort(compareVersions);
}

/**
 * What `version` expects of its data: its storage level (storage migrations it carries) and, per migrating
 * release, the model revision that release brings — (0, 2, 31) for the first, (0, 2, 32) for the next…
 * @param {string} version
 * @param {string[]} releases  migratingReleases()
 */
export function scheduleFor(version, releases) {
  const carried = releases.filter((r) => compareVersions(r, version) <= 0);
  return {
    /** Storage migrations in order: index i brings the data from level i to level i + 1. */
    storage: carried,
    /** Model revisions in order, each with the release that brings it. */
    model: carried.map((release, i) => ({ release, revision: [BASE_MODEL[0], BASE_MODEL[1], BASE_MODEL[2] + i + 1] })),
    /** The model version of fresh data written by this version. */
    modelVersion: carried.length === 0 ? BASE_MODEL : [BASE_MODEL[0], BASE_MODEL[1], BASE_MODEL[2] + carried.length],
  };
}
