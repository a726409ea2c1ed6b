// Which sim versions carry migrations: releases with an "Automatic Migrations" section in changelogs/sim-CHANGELOG.rst
// (a minimal reader on purpose: the sim must run without synup's build).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareVersions } from './storage.js';

export const SIM_CHANGELOG = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'changelogs', 'sim-CHANGELOG.rst');

export function releasesWithMigrations(file = SIM_CHANGELOG) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const found = [];
  let current = null;
  for (let i = 0; i < lines.length; i++) {
    const header = /^v(\d+\.\d+\.\d+) - \d{4}-\d{2}-\d{2}$/.exec(lines[i]);
    if (header && /^=+$/.test(lines[i + 1] ?? '')) current = header[1];
    else if (current && /^automat(ic|ed) migrations$/i.test(lines[i].trim()) && /^-+$/.test(lines[i + 1] ?? '')) found.push(current);
  }
  return found.sort(compareVersions);
}

/** Versions in (from, to] whose first boot migrates data. */
export function migrationsBetween(from, to, file) {
  return releasesWithMigrations(file).filter((v) => compareVersions(v, from) > 0 && compareVersions(v, to) <= 0);
}
