import type { Bullet, Release } from './model.js';
import { isBoilerplate, isMigrationSection } from './text.js';

/**
 * What a changelog bullet names that a cell can be checked for (issue 23): the names of Storm library calls, Storm
 * commands and their options, HTTP endpoints, forms and properties, cell options and Storm package keys, read out of
 * the "Deprecations", "Model Changes" and "Automatic Migrations" sections. Every bullet of those sections gets a
 * category; one that fits none is `unclassified` and kept, never dropped.
 */
export type ImpactSection = 'deprecations' | 'model' | 'migrations';

export type NameKind =
  /** `$lib.dict`, `$lib.inet.whois.guid`: a Storm library (a call or the library itself). */
  | 'storm-lib'
  /** `ps.kill`: a Storm command. */
  | 'storm-command'
  /** `--hourly` of `cron.add`: an option of a Storm command (`command` says which). */
  | 'storm-option'
  /** `idens()` on path objects, `user.notify()`: a method of a Storm object. */
  | 'storm-method'
  /** `$tag` in triggers: a variable Synapse sets for stored Storm. */
  | 'storm-var'
  /** `/api/v1/storm/nodes`. */
  | 'http'
  /** `inet:whois:rec:registrant`, `meta:seen`: a form or property (which of the two, the cell's model says). */
  | 'model'
  /** `modules`, `cron:enable`: a cell configuration option (cell.yaml, cell.mods.yaml, SYN_* variables). */
  | 'config'
  /** `synapse_minversion`, `forms` of a command definition, `asroot`: a key of a Storm package definition. */
  | 'package-key'
  /** `risk:threat -(uses)> inet:service:app`: a light edge definition (listed, not counted). */
  | 'edge';

export interface ImpactName {
  kind: NameKind;
  name: string;
  /** For a storm-option: the command it belongs to. */
  command?: string;
}

export type BulletCategory =
  /** Names a cell's stored Storm, model, configuration or packages can use: checked against the cell. */
  | 'checked'
  /** Python APIs, tools, Telepath, AHA, files outside cell.yaml: nothing a cell stores uses them by name. */
  | 'outside-cell'
  /** "Updates to the inet model", "See userguide_model_…": no name to look for. */
  | 'summary'
  /** A migration with no form or property named: it rewrites storage (drive, auth, views…), not nodes by form. */
  | 'storage-migration'
  | 'unclassified';

export type ImpactAction = 'deprecated' | 'removed' | 'added' | 'changed' | 'migrated';

export interface ImpactBullet {
  version: string;
  section: ImpactSection;
  text: string;
  /** The PR links (`(#4979)` → https://github.com/vertexproject/synapse/pull/4979). */
  links: string[];
  action: ImpactAction;
  category: BulletCategory;
  names: ImpactName[];
  /** Why a bullet is outside-cell, summary or unclassified: what the classifier saw. */
  reason?: string;
  /** A migration that rewrites every node of every layer (the form index of 2.170.0). */
  allNodes?: boolean;
  /** For a migration: what Synapse's source says it reads (MIGRATION_SOURCES), when synup knows. */
  rewrites?: MigrationSource;
}

/**
 * What a model migration really reads, from Synapse's source (synapse/lib/modelrev.py, the revision the PR added),
 * keyed by PR number: the forms and properties whose nodes it visits, and whether it scans all of them (`all`: its
 * time grows with their count) or lifts only a few values (`subset`: a range lift, whatever the form's size).
 */
export interface MigrationSource {
  names: string[];
  scan: 'all' | 'subset';
  /** `create`: it makes a node per value (_propToForm, _typeToForm); `normalize`: it re-norms values in place. */
  work: 'create' | 'normalize';
  source: string;
}

export const MIGRATION_SOURCES: Record<string, MigrationSource> = {
  '3884': { names: ['it:dev:repo:commit:id'], work: 'normalize', scan: 'all', source: 'modelrev 0.2.27: _normPropValu(it:dev:repo:commit:id)' },
  '3912': { names: ['ou:industry:type'], work: 'create', scan: 'all', source: 'modelrev 0.2.29: _propToForm(ou:industry:type → ou:industry:type:taxonomy)' },
  '3902': { names: ['inet:ipv4', 'inet:ipv6'], work: 'normalize', scan: 'subset', source: 'modelrev 0.2.30: _normFormSubs of inet:ipv4/inet:ipv6 in 9 special-purpose ranges (192.0.0.0/24, 2002::/16…) only' },
  '3918': { names: ['it:sec:cpe'], work: 'normalize', scan: 'all', source: 'modelrev 0.2.31: ModelMigration_0_2_31 and _normFormSubs(it:sec:cpe)' },
  '4090': { names: ['transport:air:craft:model', 'transport:sea:vessel:model'], work: 'normalize', scan: 'all', source: 'modelrev 0.2.32: _normPropValu of both :model properties' },
  '4096': { names: ['transport:sea:vessel:name'], work: 'create', scan: 'all', source: 'modelrev 0.2.33: _propToForm(transport:sea:vessel:name → entity:name)' },
  '4636': { names: ['inet:email'], work: 'create', scan: 'all', source: 'modelrev 0.2.34: _normFormSubs(inet:email), _propToForm(inet:email:base)' },
  '4785': { names: ['inet:server', 'inet:client', 'inet:url'], work: 'normalize', scan: 'all', source: 'modelrev 0.2.35: ModelMigration_0_2_35 scans every inet:server, inet:client and inet:url' },
  '4944': { names: ['econ:pay:card:pan'], work: 'create', scan: 'all', source: 'modelrev 0.2.36: _typeToForm(econ:pay:pan): nodes with an econ:pay:pan property' },
};

const prsOf = (links: string[]) => links.map((l) => /\/pull\/(\d+)$/.exec(l)?.[1]).filter((n): n is string => Boolean(n));

const DEPRECATIONS = /^deprecat/i;
const MODEL_CHANGES = /^model changes?$/i;

/** Which of the three sections a title is, or null. */
export function impactSectionOf(title: string): ImpactSection | null {
  if (isMigrationSection(title)) return 'migrations';
  if (DEPRECATIONS.test(title.trim())) return 'deprecations';
  if (MODEL_CHANGES.test(title.trim())) return 'model';
  return null;
}

// Names. A model name has a colon-separated path of lower-case parts (inet:whois:rec:registrant); a relative property
// (:path:base) is joined to the one form the bullet names with "the X form".
const MODEL_NAME = /(?<![\w:$./<-])([a-z][a-z0-9]*(?::[a-z0-9_]+)+)(?![\w(=])/g;
const RELATIVE_PROP = /(?<![\w:$./])(:[a-z][a-z0-9_]*(?::[a-z0-9_]+)*)/g;
const STORM_LIB = /\$lib(?:\.[A-Za-z_]\w*)+/g;
/** Values, not calls: `passing $lib.null` deprecates an argument, and every Storm text uses them. */
const STORM_VALUES = new Set(['$lib.null', '$lib.true', '$lib.false', '$lib.undef']);
const HTTP_PATH = /\/api\/v\d+\/[A-Za-z0-9_/]+/g;
const COMMAND = /\b([a-z]+(?:\.[a-z]+)+) commands?\b/g;
const OPTION = /(?<![\w-])--([a-z][a-z-]*?)(?:options?)?(?![a-z-])/g;
/** After these words a bullet names the replacement, not what is deprecated. */
const REPLACEMENT = /\b(in favor of|in favour of|please use|should use|should be used|replaced with|has been replaced|use the|instead|and added)\b/i;

/** Names Python code, tools, Telepath or services: nothing stored in a Cortex uses them. */
const OUTSIDE = [
  [/\bsynapse\.[a-z_]+(?:\.[A-Za-z_]+)+|\bsynapse\/lib\//, 'a Python module, class or tool'],
  [/\btelepath\b/i, 'Telepath (client code)'],
  [/\bCell\.[a-z]+|\bCoreAPI\.|\bCoreApi\./, 'a Python API of the Cell/Cortex'],
  [/\bhiveauth\b|\bhiveboot\.yaml\b/i, 'hive files and APIs of the Python code'],
  [/\bAHA\b/, 'AHA (another service)'],
  [/\bAxon APIs?\b/, 'an Axon API (client code)'],
  [/\bauthgate\b/i, 'an auth gate, reported by the Cortex itself at startup'],
  [/\bcomp types?\b/i, 'model definitions of extensions (comp types)'],
  [/\bStorm option\b/i, 'an option Storm API clients pass with a query (not stored in the cell)'],
  [/\blayer mirrors\b/i, 'layer push/pull/mirror definitions (not named keys)'],
] as const satisfies readonly (readonly [RegExp, string])[];

const SUMMARY = [
  /^see (userguide_model|datamigration|changelog-depr)/i,
  /^(updates?|updated) (to )?the [a-z, ]+models?\b/i,
  /^add(ed)? a new model, [a-z]+,/i,
] as const;

/** Migrations whose bullet names no form but whose Synapse source rewrites every node (layer indexes). */
const ALL_NODES = [/index of buids by form/i];

function actionOf(section: ImpactSection, text: string): ImpactAction {
  if (section === 'migrations') return 'migrated';
  if (/\b(have|has) been removed\b/i.test(text) || (section === 'deprecations' && /^removed?\b/i.test(text))) return 'removed';
  if (section === 'deprecations' || /\bdeprecat/i.test(text)) return 'deprecated';
  if (/^(add|added)\b/i.test(text)) return 'added';
  return 'changed';
}

const unique = (names: ImpactName[]) => [...new Map(names.map((n) => [`${n.kind}\0${n.command ?? ''}\0${n.name}`, n])).values()];

/** The names a bullet deprecates or changes (for a deprecation: the part before "in favor of" and the like). */
export function extractNames(section: ImpactSection, rawText: string): ImpactName[] {
  const subject = section === 'deprecations' || /\bdeprecat/i.test(rawText) ? rawText.split(REPLACEMENT)[0]! : rawText;
  const text = subject.replace(/\(#\d+\)/g, '');
  const names: ImpactName[] = [];
  for (const m of text.matchAll(STORM_LIB)) if (!STORM_VALUES.has(m[0])) names.push({ kind: 'storm-lib', name: m[0] });
  for (const m of text.matchAll(HTTP_PATH)) names.push({ kind: 'http', name: m[0].replace(/\/$/, '') });
  const commands = [...text.matchAll(COMMAND)].map((m) => m[1]!).filter((c) => !c.startsWith('synapse.'));
  const options = [...text.matchAll(OPTION)].map((m) => `--${m[1]}`);
  if (options.length && commands.length) {
    for (const command of commands) for (const option of options) names.push({ kind: 'storm-option', name: option, command });
  } else {
    for (const command of commands) names.push({ kind: 'storm-command', name: command });
  }
  const method = /\b([a-z][A-Za-z]*)\(\) method\b/.exec(text);
  if (method) names.push({ kind: 'storm-method', name: method[1]! });
  if (/Storm APIs?/.test(text)) for (const m of text.matchAll(/(?<![$\w.])([a-z]+)\.([a-z]+)\(\)/g)) names.push({ kind: 'storm-method', name: m[2]! });
  const variable = /(\$[a-z]+) variable/.exec(text);
  if (variable) names.push({ kind: 'storm-var', name: variable[1]! });
  const packageKey = /\b(?:Storm Package ([a-z_]+) key|the ([a-z_]+) key in Storm package|([a-z_]+) option on Storm commands)/i.exec(text);
  if (packageKey) names.push({ kind: 'package-key', name: (packageKey[1] ?? packageKey[2] ?? packageKey[3])! });
  const configuration = /configuration options?/i.test(text);
  if (configuration) {
    const named = /\bthe ([a-z_:]+) (?:Cortex |Cell )?configuration option\b/i.exec(text);
    if (named) names.push({ kind: 'config', name: named[1]! });
    else for (const m of text.matchAll(MODEL_NAME)) names.push({ kind: 'config', name: m[1]! });
    return unique(names);
  }
  if (packageKey) return unique(names);
  // An edge definition (`risk:threat -(uses)> inet:service:app`): its forms are not what changes.
  const edges = [...text.matchAll(/([a-z][a-z0-9:]*) -\((\w+)\)> ([a-z][a-z0-9:]*)/g)];
  if (edges.length) return unique([...names, ...edges.map((m) => ({ kind: 'edge' as const, name: `${m[1]} -(${m[2]})> ${m[3]}` }))]);
  const form = /(?:to|on|of) the ([a-z][a-z0-9]*(?::[a-z0-9_]+)+) forms?\b/.exec(text)?.[1];
  for (const m of text.matchAll(MODEL_NAME)) names.push({ kind: 'model', name: m[1]! });
  if (form) for (const m of text.matchAll(RELATIVE_PROP)) names.push({ kind: 'model', name: form + m[1]!.replace(/=.*$/, '') });
  return unique(names);
}

/** One bullet of a crossed release, classified. */
export function classifyBullet(version: string, section: ImpactSection, bullet: Bullet): ImpactBullet {
  const text = bullet.text;
  const base = { version, section, text, links: bullet.links, action: actionOf(section, text) };
  if (SUMMARY.some((re) => re.test(text)) || (section === 'migrations' && isBoilerplate(text))) {
    return { ...base, category: 'summary', names: [], reason: 'names no form, property or Storm API' };
  }
  const outside = OUTSIDE.find(([re]) => re.test(text));
  const names = extractNames(section, text);
  // A bullet naming both (the Python API and a form) is checked for what a cell can hold.
  if (outside && !names.some((n) => n.kind !== 'model' && n.kind !== 'config')) {
    return { ...base, category: 'outside-cell', names: [], reason: outside[1] };
  }
  if (section === 'migrations') {
    if (ALL_NODES.some((re) => re.test(text))) return { ...base, category: 'checked', names, allNodes: true };
    const rewrites = prsOf(bullet.links).map((pr) => MIGRATION_SOURCES[pr]).find(Boolean);
    if (rewrites) return { ...base, category: 'checked', names: unique([...names, ...rewrites.names.map((name) => ({ kind: 'model' as const, name }))]), rewrites };
    if (names.length === 0) return { ...base, category: 'storage-migration', names, reason: 'names no form or property: it rewrites storage (drive, auth, views, triggers…) or properties by type, so no node count is taken' };
  }
  if (names.length === 0) return { ...base, category: 'unclassified', names, reason: 'no Storm API, command, endpoint, form, property or option recognized' };
  return { ...base, category: 'checked', names };
}

/** Every Deprecations, Model Changes and Automatic Migrations bullet of these releases, classified, in order. */
export function impactBullets(releases: Release[]): ImpactBullet[] {
  return releases.flatMap((release) =>
    release.sections.flatMap((s) => {
      const section = impactSectionOf(s.title);
      return section ? s.bullets.map((b) => classifyBullet(release.version, section, b)) : [];
    }),
  );
}
