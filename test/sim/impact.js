// The sim's answer to synup check's Storm query (src/health/storm.ts IMPACT_QUERY), shaped as a real Cortex answers
// it: the layers' count:forms for its own sim:node nodes, plus what a test put in <dir>/sim-storm.json (the Cortex's
// stored Storm — cron jobs, triggers, macros, dmons, packages — and nodes of other forms and properties, which the sim
// does not really hold). A name neither knows is "not in the model", so it is left out of counts, as the real query does.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * @typedef {object} SimStorm  <dir>/sim-storm.json
 * @property {Record<string, number>} [forms]  extra nodes per form
 * @property {Record<string, number>} [props]  nodes per property
 * @property {object[]} [crons] @property {object[]} [triggers] @property {object[]} [macros] @property {object[]} [dmons] @property {object[]} [packages]
 */

/** @param {string} dir @param {{ formCounts(): Record<string, number> }} storage @param {number[]} version @param {string[]} names */
export function impactAnswer(dir, storage, version, names) {
  const file = path.join(dir, 'sim-storm.json');
  /** @type {SimStorm} */
  const stored = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const forms = { ...storage.formCounts(), ...(stored.forms ?? {}) };
  const props = stored.props ?? {};
  /** @type {Record<string, number>} */
  const counts = {};
  for (const name of names) {
    if (name in forms) counts[name] = forms[name] ?? 0;
    else if (name in props) counts[name] = props[name] ?? 0;
  }
  return {
    version,
    forms,
    counts,
    crons: stored.crons ?? [],
    triggers: stored.triggers ?? [],
    macros: stored.macros ?? [],
    dmons: stored.dmons ?? [],
    packages: stored.packages ?? [],
  };
}
