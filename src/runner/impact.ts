import { existsSync, readFileSync } from 'node:fs';
import { cellConfFiles } from '../config/cell-conf.js';
import { impactBullets, selectReleases, type Changelog } from '../changelog/index.js';
import { SynupError } from '../errors.js';
import { readImpactAnswer, type ImpactAnswer } from '../health/storm.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { readLayerFormCounts } from '../lmdb/formcounts.js';
import type { BootMeasurement, MigrationWork } from '../plan/boot-calibration.js';
import { analyzeImpact, namesToCount, type CellFacts, type ImpactReport, type PackageKey, type StormObject } from '../plan/impact.js';
import type { ImpactBullet } from '../changelog/index.js';
import { measuredBoots } from './boot-measurements.js';
import type { CellSession } from './session.js';

/** What reading a cell's impact needs: the session's parts (the upgrade's preflight has them too). */
export type ImpactCell = Pick<CellSession, 'config' | 'cellDir' | 'adapter'>;

export interface ImpactOptions {
  changelog: Changelog;
  to: string;
  /** Read the cell's (or the backup's) LMDB files, not the running Cortex. */
  offline?: boolean;
  /** A backup dir to read offline instead of the cell. */
  backupDir?: string;
  signal?: AbortSignal;
}

/** Top-level keys of cell.yaml and cell.mods.yaml, each file on its own (a key may be deprecated in either). */
function configKeys(dir: string): CellFacts['config'] {
  return cellConfFiles(dir).map(({ file, conf }) => ({ where: file, keys: Object.keys(conf) }));
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The stored Storm of the answer as objects to scan, and the package keys present. */
function codeOf(answer: ImpactAnswer): { code: StormObject[]; packageKeys: PackageKey[] } {
  const code: StormObject[] = [
    ...answer.crons.map((c) => ({ type: 'cron' as const, iden: str(c.iden), name: str(c.name) || str(c.iden), text: str(c.query) || str(c.storm) })),
    ...answer.triggers.map((t) => ({ type: 'trigger' as const, iden: str(t.iden), name: str(t.name) || str(t.iden), text: str(t.storm) })),
    ...answer.macros.map((m) => ({ type: 'macro' as const, iden: str(m.iden) || str(m.name), name: str(m.name), text: str(m.storm) })),
    ...answer.dmons.map((d) => ({ type: 'dmon' as const, iden: str(d.iden), name: str(d.name) || str(d.iden), text: str(d.storm) })),
  ];
  const packageKeys: PackageKey[] = [];
  for (const pkg of answer.packages) {
    const name = str(pkg.name);
    const iden = `${name}@${str(pkg.version) || '?'}`;
    if ('synapse_minversion' in pkg) packageKeys.push({ package: name, where: 'package', key: 'synapse_minversion' });
    if (typeof pkg.onload === 'string') code.push({ type: 'package', iden, name, part: 'onload', text: pkg.onload });
    for (const mod of Array.isArray(pkg.modules) ? (pkg.modules as Record<string, unknown>[]) : []) {
      code.push({ type: 'package', iden, name, part: `module ${str(mod.name)}`, text: str(mod.storm) });
    }
    for (const cmd of Array.isArray(pkg.commands) ? (pkg.commands as Record<string, unknown>[]) : []) {
      code.push({ type: 'package', iden, name, part: `command ${str(cmd.name)}`, text: str(cmd.storm) });
      for (const key of ['forms', 'asroot']) if (key in cmd) packageKeys.push({ package: name, where: `command ${str(cmd.name)}`, key });
    }
  }
  return { code, packageKeys };
}

/**
 * SYN_* variables the service gets where the adapter knows them: the process adapter's `service.process.env`, the
 * systemd adapter's EnvironmentFile (`service.systemd.environmentFile`). Compose and Kubernetes keep theirs in files
 * synup does not parse (the compose file, the workload): not checked.
 */
export function serviceEnvKeys(config: ImpactCell['config']): CellFacts['config'] {
  const found: CellFacts['config'] = [];
  const processKeys = Object.keys(config.service.process?.env ?? {}).filter((k) => k.startsWith('SYN_'));
  if (processKeys.length) found.push({ where: 'service.process.env (synup.yaml)', keys: processKeys });
  const envFile = config.service.systemd?.environmentFile;
  if (envFile && existsSync(envFile)) {
    const keys = [...readFileSync(envFile, 'utf8').matchAll(/^\s*(?:export\s+)?(SYN_[A-Z0-9_]+)\s*=/gm)].map((m) => m[1]!);
    if (keys.length) found.push({ where: envFile, keys: [...new Set(keys)] });
  }
  return found;
}

const envKeys = (session: ImpactCell) => serviceEnvKeys(session.config);

/**
 * The impact report of the configured cell for an upgrade to `to`: from its running Cortex through one read-only
 * Storm call, or offline from its (or a backup's) layer files when it is stopped, `offline` is asked, or a backup is
 * given. Never writes to the cell.
 */
export async function cellImpact(session: ImpactCell & Pick<CellSession, 'stateDir'>, options: ImpactOptions): Promise<ImpactReport> {
  const dir = options.backupDir ?? session.cellDir;
  const info = await readCellInfo(dir);
  if (!info.cellVersion) throw new SynupError('usage', `cannot read the version of ${dir}: no cell:version in slabs/cell.lmdb`, { hint: 'name a Cortex storage dir (cell.dir) or a backup of one' });
  const releases = selectReleases(options.changelog, info.cellVersion, options.to, `the version of ${dir} (slabs/cell.lmdb)`);
  const measured = await measuredBoots(session.stateDir);
  return impactOf(session, { ...options, from: info.cellVersion, to: releases.at(-1)!.version, bullets: impactBullets(releases), measured });
}

/** A stopped cell's (or backup's) facts from its layer files: form counts and the given configuration keys. */
async function offlineFacts(dir: string, names: string[], config: CellFacts['config']): Promise<CellFacts> {
  const { counts } = await readLayerFormCounts(dir);
  return {
    source: 'offline',
    where: dir,
    // Offline, only forms are counted (count:forms); a property's count needs its index walked.
    counts: Object.fromEntries(names.map((n) => [n, n in counts ? counts[n]! : null])),
    formCounts: counts,
    code: null,
    packageKeys: [],
    config,
    readMs: 0,
  };
}

/** What the crossed migrations will have to do in a stopped cell or a backup (a rehearsal's restored copy). */
export async function offlineMigrationWork(dir: string, from: string, to: string, bullets: ImpactBullet[]): Promise<MigrationWork> {
  const facts = await offlineFacts(dir, namesToCount(bullets), []);
  return analyzeImpact({ from, to, bullets, facts }).migrationEstimate.work;
}

/**
 * The report for bullets already selected (from → to): Storm when the service runs, else the files. `measured`: the
 * state dir's measured first boots, which calibrate the predicted migration time (none: the built-in rates).
 */
export async function impactOf(
  session: ImpactCell,
  options: Omit<ImpactOptions, 'changelog'> & { from: string; bullets: ImpactBullet[]; running?: boolean; measured?: BootMeasurement[] },
): Promise<ImpactReport> {
  const dir = options.backupDir ?? session.cellDir;
  const { from, to, bullets } = options;
  const names = namesToCount(bullets);
  const running = !options.backupDir && !options.offline && (options.running ?? (await session.adapter.status()).running);
  const began = Date.now();
  let facts: CellFacts;
  if (running) {
    const { config } = session;
    const target = { host: config.health.host, port: config.health.port, cellDir: session.cellDir, ca: config.health.ca, insecure: config.health.insecure };
    const answer = await readImpactAnswer({ ...target, username: config.health.username, password: config.health.password, signal: options.signal }, names);
    const { code, packageKeys } = codeOf(answer);
    facts = {
      source: 'storm',
      where: `https://${config.health.host}:${config.health.port}/api/v1/storm/call`,
      counts: Object.fromEntries(names.map((n) => [n, typeof answer.counts[n] === 'number' ? answer.counts[n]! : null])),
      formCounts: answer.forms,
      code,
      packageKeys,
      config: [...configKeys(dir), ...envKeys(session)],
      readMs: 0,
    };
  } else {
    facts = await offlineFacts(dir, names, [...configKeys(dir), ...(options.backupDir ? [] : envKeys(session))]);
  }
  facts.readMs = Date.now() - began;
  return analyzeImpact({ from, to, bullets, facts, measured: options.measured });
}
