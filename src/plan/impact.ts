import type { ImpactBullet, ImpactName } from '../changelog/index.js';
import { builtInNodeSeconds, predictBoot, type BootMeasurement, type BootPrediction, type MigrationWork } from './boot-calibration.js';

/**
 * What the changes between a cell's version and a target touch in *this* cell (issue 23): the crossed bullets
 * (src/changelog/impact.ts) held against what the cell holds — node counts, stored Storm code, configuration.
 * Pure: the facts are gathered by src/runner/impact.ts (Storm on a running Cortex, LMDB files offline).
 */

/** A piece of Storm stored in the cell: a cron job, trigger, macro, dmon, or a package's module or command. */
export interface StormObject {
  type: 'cron' | 'trigger' | 'macro' | 'dmon' | 'package';
  iden: string;
  name: string;
  /** Within a package: `module foo.bar`, `command foo.baz`; else absent. */
  part?: string;
  text: string;
}

/** A package-definition key present in the cell (`synapse_minversion`, a command's `forms` or `asroot`). */
export interface PackageKey {
  package: string;
  /** `package` (top level) or `command <name>`. */
  where: string;
  key: string;
}

export interface CellFacts {
  /** `storm` (the running Cortex, through its HTTPS API) or `offline` (LMDB layer files of a stopped cell or backup). */
  source: 'storm' | 'offline';
  /** The URL asked, or the dir read. */
  where: string;
  /** node counts per name asked: null = not in this cell's model (Storm), or not countable offline (a property). */
  counts: Record<string, number | null>;
  /** Every form's node count (the view's form counts, or the sum of the layers' `count:forms`). */
  formCounts: Record<string, number>;
  /** Stored Storm, or null when it could not be read (offline: it lives in the Cortex's own slabs, read through Storm). */
  code: StormObject[] | null;
  packageKeys: PackageKey[];
  /** Top-level keys of cell.yaml and cell.mods.yaml, and SYN_* variables the adapter sets, by where they are. */
  config: { where: string; keys: string[] }[];
  /** How long reading took (ms). */
  readMs: number;
}

export interface DataHit {
  name: string;
  count: number;
  bullet: BulletRef;
}

export interface CodeHit {
  object: { type: StormObject['type']; iden: string; name: string; part?: string };
  line: number;
  /** The line of Storm, trimmed. */
  text: string;
  uses: string;
  bullet: BulletRef;
}

export interface ConfigHit {
  where: string;
  key: string;
  bullet: BulletRef;
}

export interface BulletRef {
  version: string;
  section: ImpactBullet['section'];
  action: ImpactBullet['action'];
  text: string;
  links: string[];
}

export interface MigrationPrediction {
  version: string;
  text: string;
  links: string[];
  /** Nodes the migration rewrites in this cell (sum over the forms and properties it names), or every node. */
  nodes: number;
  seconds: number;
  /** What Synapse's source says the migration reads (src/changelog/impact.ts MIGRATION_SOURCES); absent: from the bullet's names. */
  source?: string;
  /** `subset`: it lifts a few values only, so its time does not grow with the forms' counts (nodes is then 0). */
  scan?: 'all' | 'subset';
  /** `create`: a new node per node; `normalize`: re-normed in place; `all`: a storage migration over every node. */
  work: 'create' | 'normalize' | 'all';
}

export interface ImpactReport {
  from: string;
  to: string;
  source: CellFacts['source'];
  where: string;
  /** Deprecated/removed/changed/migrated names with nodes in this cell (added names are counted, not listed). */
  data: DataHit[];
  code: CodeHit[];
  config: ConfigHit[];
  packageKeys: (PackageKey & { bullet: BulletRef })[];
  migrations: MigrationPrediction[];
  /**
   * Predicted first boot of the target (s), start → active and migrated (what a rehearsal measures and the plan's
   * downtime estimate adds to the defrag): `migrationEstimate.seconds`.
   */
  predictedMigrationSeconds: number;
  /** How the first boot was predicted: from which measured boot (or the built-in rates), its parts, the work counted. */
  migrationEstimate: BootPrediction & { work: MigrationWork };
  /** What was looked at: so an empty report is evidence, not silence. */
  checked: {
    bullets: number;
    byCategory: Record<string, number>;
    names: number;
    namesCounted: number;
    forms: number;
    nodes: number;
    stormObjects: number | null;
    stormLines: number | null;
    configKeys: number;
    readMs: number;
  };
  /** Bullets no rule could classify: shown, so a reader can judge them. */
  unclassified: BulletRef[];
  /** Deprecated names with usage: code, config or package keys (data is reported but never blocks). */
  clean: boolean;
}

const refOf = (b: ImpactBullet): BulletRef => ({ version: b.version, section: b.section, action: b.action, text: b.text, links: b.links });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The pattern that finds a name's use in Storm text; null for names Storm code cannot use by name. */
export function usagePattern(name: ImpactName): RegExp | null {
  switch (name.kind) {
    case 'storm-lib':
      return new RegExp(`${escape(name.name)}(?![\\w])`, 'g');
    case 'storm-command':
      return new RegExp(`(?<![\\w.$:])${escape(name.name)}(?![\\w.])`, 'g');
    case 'storm-option':
      return new RegExp(`(?<![\\w.$:])${escape(name.command!)}\\b[^|{}\\n]*?(?<![\\w-])${escape(name.name)}(?![\\w-])`, 'g');
    case 'storm-method':
      return new RegExp(`\\.${escape(name.name)}\\(`, 'g');
    case 'storm-var':
      return new RegExp(`${escape(name.name)}(?![\\w.])`, 'g');
    case 'http':
      return new RegExp(`${escape(name.name)}(?![\\w/])`, 'g');
    default:
      return null;
  }
}

/** `$tag` is deprecated in triggers only. */
const appliesTo = (name: ImpactName, object: StormObject) => name.kind !== 'storm-var' || object.type === 'trigger';

/** Synapse reads a cell option from SYN_<CELLTYPE>_<KEY> (`cron:enable` → SYN_CORTEX_CRON_ENABLE). */
export const envNameOf = (key: string) => `SYN_CORTEX_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

function scanCode(bullets: ImpactBullet[], code: StormObject[]): CodeHit[] {
  const hits: CodeHit[] = [];
  // Each pattern compiled once, not once per object: a cell may store hundreds of objects.
  const patterns = bullets.flatMap((bullet) => bullet.names.map((name) => ({ bullet, name, pattern: usagePattern(name) })).filter((p) => p.pattern !== null));
  for (const object of code) {
    const lineStarts = [0, ...[...object.text.matchAll(/\n/g)].map((m) => m.index! + 1)];
    const lineOf = (index: number) => lineStarts.filter((s) => s <= index).length;
    for (const { bullet, name, pattern: compiled } of patterns) {
      {
        const pattern = compiled!;
        if (!appliesTo(name, object)) continue;
        pattern.lastIndex = 0;
        for (const m of object.text.matchAll(pattern)) {
          const line = lineOf(m.index!);
          hits.push({
            object: { type: object.type, iden: object.iden, name: object.name, ...(object.part ? { part: object.part } : {}) },
            line,
            text: object.text.slice(lineStarts[line - 1], object.text.indexOf('\n', lineStarts[line - 1]) === -1 ? undefined : object.text.indexOf('\n', lineStarts[line - 1])).trim().slice(0, 200),
            uses: name.kind === 'storm-option' ? `${name.command} ${name.name}` : name.name,
            bullet: refOf(bullet),
          });
        }
      }
    }
  }
  return hits.sort((a, b) => a.object.type.localeCompare(b.object.type) || a.object.name.localeCompare(b.object.name) || (a.object.part ?? '').localeCompare(b.object.part ?? '') || a.line - b.line);
}

/** Node count of a name in this cell: counted names first, then form counts (offline). */
function countOf(facts: CellFacts, name: string): number | null {
  const counted = facts.counts[name];
  if (counted !== undefined && counted !== null) return counted;
  return name in facts.formCounts ? facts.formCounts[name]! : (counted ?? null);
}

/** Every model name the crossed bullets name (to count), in order, once. */
export function namesToCount(bullets: ImpactBullet[]): string[] {
  return [...new Set(bullets.filter((b) => b.category === 'checked').flatMap((b) => b.names.filter((n) => n.kind === 'model').map((n) => n.name)))];
}

/**
 * Nodes a migration reads in this cell. Offline a property is not counted (its index is not walked), so a migration
 * of a property is counted by its form's nodes: an upper bound (a node without the property is not migrated).
 */
function migratedCountOf(facts: CellFacts, name: string): number {
  const counted = countOf(facts, name);
  if (counted !== null || facts.source !== 'offline') return counted ?? 0;
  const form = Object.keys(facts.formCounts).filter((f) => name.startsWith(`${f}:`)).sort((a, b) => b.length - a.length)[0];
  return form ? facts.formCounts[form]! : 0;
}

/** Every crossed migration that rewrites nodes by form, with its nodes in this cell and seconds at the built-in rates. */
function migrationsOf(bullets: ImpactBullet[], facts: CellFacts, totalNodes: number): MigrationPrediction[] {
  const migrations: MigrationPrediction[] = [];
  const seen = new Set<string>();
  for (const b of bullets.filter((x) => x.section === 'migrations' && x.category === 'checked')) {
    // Two bullets of one revision (2.237.0 has two for #4785) are one migration.
    const key = b.rewrites ? `${b.version} ${b.rewrites.source}` : `${b.version} ${b.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const names = b.rewrites ? b.rewrites.names : b.names.filter((n) => n.kind === 'model').map((n) => n.name);
    const counted = names.reduce((sum, n) => sum + migratedCountOf(facts, n), 0);
    const nodes = b.allNodes ? totalNodes : b.rewrites?.scan === 'subset' ? 0 : counted;
    const work = b.allNodes ? 'all' : b.rewrites?.work ?? 'normalize';
    const seconds = builtInNodeSeconds({ releases: [], createNodes: work === 'create' ? nodes : 0, normalizeNodes: work === 'normalize' ? nodes : 0, allNodes: work === 'all' ? nodes : 0 });
    migrations.push({ version: b.version, text: b.text, links: b.links, nodes, seconds, ...(b.rewrites ? { source: b.rewrites.source, scan: b.rewrites.scan } : {}), work });
  }
  return migrations;
}

/** What the crossed migrations have to do in this cell: the releases with migrations, nodes by kind of work. */
function migrationWorkOf(bullets: ImpactBullet[], migrations: MigrationPrediction[]): MigrationWork {
  const nodes = (work: MigrationPrediction['work']) => migrations.filter((m) => m.work === work).reduce((s, m) => s + m.nodes, 0);
  const releases = [...new Set(bullets.filter((b) => b.section === 'migrations' && b.category !== 'summary').map((b) => b.version))].sort();
  return { releases, createNodes: nodes('create'), normalizeNodes: nodes('normalize'), allNodes: nodes('all') };
}

/**
 * The report. `measured`: the first boots this state dir measured (rehearsals, past upgrades); the newest of the same
 * migrations calibrates the predicted migration time (src/plan/boot-calibration.ts).
 */
export function analyzeImpact(input: { from: string; to: string; bullets: ImpactBullet[]; facts: CellFacts; measured?: BootMeasurement[] }): ImpactReport {
  const { bullets, facts } = input;
  const checkedBullets = bullets.filter((b) => b.category === 'checked');
  const totalNodes = Object.values(facts.formCounts).reduce((a, b) => a + b, 0);

  const data: DataHit[] = [];
  for (const b of checkedBullets) {
    if (b.action === 'added') continue;
    for (const n of b.names) {
      if (n.kind !== 'model') continue;
      const count = countOf(facts, n.name);
      if (count) data.push({ name: n.name, count, bullet: refOf(b) });
    }
  }

  const code = facts.code ? scanCode(checkedBullets.filter((b) => b.action !== 'added'), facts.code) : [];

  const config: ConfigHit[] = [];
  for (const b of checkedBullets) {
    for (const n of b.names.filter((x) => x.kind === 'config')) {
      for (const where of facts.config) {
        for (const key of where.keys) if (key === n.name || key === envNameOf(n.name)) config.push({ where: where.where, key, bullet: refOf(b) });
      }
    }
  }

  const packageKeys = checkedBullets.flatMap((b) => b.names.filter((n) => n.kind === 'package-key').flatMap((n) => facts.packageKeys.filter((k) => k.key === n.name).map((k) => ({ ...k, bullet: refOf(b) }))));

  const migrations = migrationsOf(bullets, facts, totalNodes);
  const work = migrationWorkOf(bullets, migrations);
  const estimate = predictBoot(work, input.measured ?? []);
  for (const m of migrations) m.seconds *= estimate.nodeScale;

  const byCategory: Record<string, number> = {};
  for (const b of bullets) byCategory[b.category] = (byCategory[b.category] ?? 0) + 1;
  const names = namesToCount(bullets);
  return {
    from: input.from,
    to: input.to,
    source: facts.source,
    where: facts.where,
    data,
    code,
    config,
    packageKeys,
    migrations,
    predictedMigrationSeconds: estimate.seconds,
    migrationEstimate: { ...estimate, work },
    checked: {
      bullets: bullets.length,
      byCategory,
      names: names.length,
      namesCounted: names.filter((n) => countOf(facts, n) !== null).length,
      forms: Object.values(facts.formCounts).filter((n) => n > 0).length,
      nodes: totalNodes,
      stormObjects: facts.code ? new Set(facts.code.map((o) => `${o.type}\0${o.iden}`)).size : null,
      stormLines: facts.code ? facts.code.reduce((s, o) => s + o.text.split('\n').length, 0) : null,
      configKeys: facts.config.reduce((s, c) => s + c.keys.length, 0),
      readMs: facts.readMs,
    },
    unclassified: bullets.filter((b) => b.category === 'unclassified').map(refOf),
    clean: code.length === 0 && config.length === 0 && packageKeys.length === 0,
  };
}
