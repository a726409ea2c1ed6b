import { chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { SynupError, errorMessage } from '../errors.js';
import { fsyncDir, renameDurable, writeFileAtomic } from '../fsutil.js';
import { stormCall } from '../health/storm.js';
import { copyOwnership } from '../backup/owners.js';
import { scanCell } from '../lmdb/discover.js';
import { readNexusIndex } from '../lmdb/nexus.js';
import { walkEnvs } from '../lmdb/walk.js';
import { waitUntil } from '../poll.js';
import { createAdapter } from '../service/index.js';
import { processEnv } from '../config/environment.js';
import type { ServiceAdapter } from '../service/adapter.js';
import { inodeOf, runDirs } from '../siblings.js';
import { formatDuration } from '../units.js';
import type { StepContext } from './context.js';
import { recordOwned } from './owned.js';

/**
 * The shadow mirror of online defrag (issue 24), the one module for it: made from Synapse's own backup of the running
 * cell (taken while it holds its nexus lock, so the copy and the nexus index it records agree), started beside the
 * cell as a passive mirror that no client can reach (no HTTPS, no telepath listener, no AHA registration), followed
 * until it holds every nexus entry the cell has, and at downtime checked and made the cell's own again.
 */

/**
 * What must not reach the shadow: the cell's ports and its AHA identity. No HTTPS (`https:port: null`). Telepath on
 * loopback at a port the OS picks: a null `dmon:listen` would make Synapse's launcher listen on its `--telepath`
 * default, tcp://0.0.0.0:27492, reachable from the network and often the cell's own port. The AHA keys take no null:
 * they are removed from both files and from the shadow's environment.
 */
const SHADOW_OVERRIDES: Record<string, unknown> = { 'https:port': null, 'dmon:listen': 'tcp://127.0.0.1:0/' };
const AHA_KEY = /^aha:/;
const AHA_ENV = /^SYN_[A-Z0-9]+_AHA_/;

/** What the cell dir holds that is not the cell's data: a runtime's scratch, and the backups the cell keeps. */
const NOT_SHADOWED = ['**/tmp', '**/sockets', '**/backups'];

export const shadowBackupName = (runId: string) => `synup-shadow-${runId}`;

/** The shadow as a service of its own (process adapter): its own dir, pid file and log in the state dir. */
export function shadowAdapter(ctx: StepContext): ServiceAdapter {
  const config = structuredClone(ctx.config);
  const name = `${ctx.run.cellName}.shadow-${ctx.run.id}`;
  config.service.process = { ...config.service.process!, pidFile: path.join(ctx.stateDir, `${name}.pid`), logFile: path.join(ctx.stateDir, `${name}.log`) };
  const env = Object.fromEntries(Object.entries(processEnv()).filter(([key]) => !AHA_ENV.test(key)));
  config.service.process.env = Object.fromEntries(Object.entries(config.service.process.env ?? {}).filter(([key]) => !AHA_ENV.test(key)));
  return createAdapter(config, { cellDir: runDirs(ctx.cellDir, ctx.run.id).shadow, cellName: name, stateDir: ctx.stateDir, env });
}

/**
 * Asks the running cell for its own backup (Storm `$lib.backup.run`, which waits for it), then renames it out of the
 * backup dir to the run's shadow dir. The backup's path is journaled before asking, so a crash leaves nothing unknown.
 */
export async function takeShadowCopy(ctx: StepContext, backupRoot: string): Promise<void> {
  const { health } = ctx.config;
  const name = shadowBackupName(ctx.run.id);
  const backupPath = path.join(backupRoot, name);
  const shadowDir = runDirs(ctx.cellDir, ctx.run.id).shadow;
  ctx.update((run) => {
    run.data.shadow = { ...run.data.shadow, backupPath };
  });
  const started = Date.now();
  ctx.progress(`asking ${ctx.run.cellName} for its own backup (Storm $lib.backup.run, under its nexus lock) into ${backupPath}`);
  await stormCall(
    { host: health.host, port: health.port, cellDir: ctx.cellDir, ca: health.ca, insecure: health.insecure, username: health.username, password: health.password, signal: ctx.signal, timeoutMs: ctx.config.upgrade.onlineDefrag.backupTimeout, readonly: false },
    'return($lib.backup.run(name=$name, wait=$lib.true))',
    { name },
  );
  if (!existsSync(path.join(backupPath, 'cell.guid'))) throw new SynupError('failed', `the cell reported its backup ${name} done, but ${backupPath} holds no cell.guid`, { hint: 'is backup:dir in cell.yaml the dir synup sees? (a container path is not)' });
  renameDurable(backupPath, shadowDir);
  recordOwned(ctx, shadowDir, 'shadow', inodeOf(shadowDir)!);
  ctx.update((run) => {
    run.data.shadow = { ...run.data.shadow, backupMs: Date.now() - started };
  });
}

/**
 * The shadow's settings: cell.mods.yaml (which wins over cell.yaml, the environment and the command line in Synapse)
 * follows the cell and listens nowhere; neither file names an AHA registry or name, so it registers nowhere. Every
 * other key and comment of the cell's own files is kept.
 */
export function writeShadowConf(shadowDir: string, leaderUrl: string): void {
  for (const name of ['cell.yaml', 'cell.mods.yaml']) {
    const file = path.join(shadowDir, name);
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (name === 'cell.yaml' && text === '') continue;
    const doc = parseDocument(text.trim() === '' ? '{}' : text);
    if (doc.errors.length) throw new SynupError('failed', `${file} (the cell's ${name}, as its backup holds it) is not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
    const conf: unknown = doc.toJS();
    for (const key of Object.keys(conf && typeof conf === 'object' ? conf : {}).filter((k) => AHA_KEY.test(k))) doc.delete(key);
    if (name === 'cell.mods.yaml') {
      for (const [key, value] of Object.entries(SHADOW_OVERRIDES)) doc.set(key, value);
      doc.set('mirror', leaderUrl);
    }
    writeFileAtomic(file, doc.toString(), 0o600);
    // The shadow runs as the cell does (uid 999 in Vertex's images): its settings are its own, and stay 0600.
    const owner = statSync(shadowDir);
    if (process.geteuid?.() === 0) chownSync(file, owner.uid, owner.gid);
  }
}

/** A cell's nexus index, read from its files (fine while it runs: LMDB readers do not block its writer). */
export const nexusIndexOf = async (dir: string) => (await readNexusIndex(dir)).index;

/**
 * Waits until the running shadow keeps up with the cell (indexes read from their files), or throws: the shadow
 * exited, or `timeoutMs` passed. `target` (the stopped cell's final index): one round, to reach it. Without one
 * (the cell runs and takes writes): rounds of "read the cell's index, wait until the shadow has it", until a round
 * takes no longer than `lagMs` — a writer faster than the shadow replays never gets there, and that is found out
 * before any downtime rather than during it.
 */
export async function waitShadowCaughtUp(ctx: StepContext, shadow: ServiceAdapter, goal: { target: number } | { lagMs: number }, timeoutMs: number): Promise<{ leaderIndex: number; shadowIndex: number; waitedMs: number }> {
  const started = Date.now();
  const shadowDir = runDirs(ctx.cellDir, ctx.run.id).shadow;
  let shadowIndex = -1;
  for (;;) {
    const leaderIndex = 'target' in goal ? goal.target : await nexusIndexOf(ctx.cellDir);
    const roundStarted = Date.now();
    let exited: string | null = null;
    const done = await waitUntil(
      async () => {
        ctx.signal?.throwIfAborted();
        exited = (await shadow.startedInstanceProblem?.('exited')) ?? null;
        if (exited) return true;
        shadowIndex = await nexusIndexOf(shadowDir);
        return shadowIndex >= leaderIndex;
      },
      Math.max(0, started + timeoutMs - Date.now()),
      { firstMs: 100, maxMs: 500 },
    );
    if (exited) throw new SynupError('failed', `the shadow mirror stopped: ${exited}`, { hint: `its log: ${path.join(ctx.stateDir, `${ctx.run.cellName}.shadow-${ctx.run.id}.log`)}` });
    if (!done) throw new SynupError('failed', `the shadow mirror reached nexus index ${shadowIndex} of ${leaderIndex} within ${formatDuration(timeoutMs)}`, { hint: 'a writer faster than the mirror replays, or the shadow cannot log in to the cell: see its log' });
    if ('target' in goal || Date.now() - roundStarted <= goal.lagMs) return { leaderIndex, shadowIndex, waitedMs: Date.now() - started };
  }
}

/**
 * Stops the shadow if it runs (its pid file says so), gracefully then forced. `untilDataClosed` (at downtime): done
 * once its envs are closed, not when its process has finished lingering.
 */
export async function stopShadow(ctx: StepContext, options: { untilDataClosed?: boolean } = {}): Promise<void> {
  const shadow = shadowAdapter(ctx);
  if ((await shadow.status()).running) await shadow.stop({ timeoutMs: ctx.config.service.stopTimeout, untilDataClosed: options.untilDataClosed });
}

/**
 * Removes what the shadow left: the shadow dir (only the dir synup recorded, by inode) and Synapse's backup if it was
 * never renamed out (its name carries the run id). Also the shadow's pid and log files.
 */
export async function removeShadow(ctx: StepContext): Promise<void> {
  await stopShadow(ctx);
  const shadowDir = runDirs(ctx.cellDir, ctx.run.id).shadow;
  const owned = ctx.run.owned.find((o) => o.path === shadowDir && o.kind === 'shadow');
  if (owned && inodeOf(shadowDir) === owned.ino) await rm(shadowDir, { recursive: true, force: true });
  const backupPath = ctx.run.data.shadow?.backupPath;
  if (backupPath && path.basename(backupPath) === shadowBackupName(ctx.run.id)) await rm(backupPath, { recursive: true, force: true });
  ctx.update((run) => {
    run.owned = run.owned.filter((o) => o.path !== shadowDir);
  });
}

/**
 * Makes the stopped shadow the cell's own again, from the stopped cell: its cell.yaml and cell.mods.yaml byte for byte
 * (or none, as the cell has none), every other non-LMDB file the cell holds, and its `backups/` as hard links (no data
 * copied; the cell's own dir keeps them as the rollback point). Files the shadow has that the cell lacks are removed:
 * they were made in synup's own dir by the shadow run.
 */
export async function restoreCellFiles(cellDir: string, shadowDir: string): Promise<{ copied: string[]; removed: string[] }> {
  const [cell, shadow] = await Promise.all([scanCell(cellDir, { skipDirs: NOT_SHADOWED }), scanCell(shadowDir, { skipDirs: NOT_SHADOWED })]);
  const copied: string[] = [];
  for (const file of cell.files) {
    const from = path.join(cellDir, file.rel);
    const to = path.join(shadowDir, file.rel);
    const bytes = readFileSync(from);
    if (existsSync(to) && readFileSync(to).equals(bytes)) continue;
    mkdirSync(path.dirname(to), { recursive: true });
    writeFileAtomic(to, bytes, statSync(from).mode & 0o7777);
    copied.push(file.rel);
  }
  const keep = new Set(cell.files.map((f) => f.rel));
  const removed = shadow.files.filter((f) => !keep.has(f.rel)).map((f) => f.rel);
  for (const rel of removed) rmSync(path.join(shadowDir, rel), { force: true });
  if (removed.length) fsyncDir(shadowDir);
  for (const dir of ['tmp', 'sockets', 'backups']) rmSync(path.join(shadowDir, dir), { recursive: true, force: true });
  linkTree(path.join(cellDir, 'backups'), path.join(shadowDir, 'backups'));
  // What synup wrote (as root) takes the owner and mode of the cell's own, so the new version can read it.
  await copyOwnership(cellDir, shadowDir);
  return { copied, removed };
}

/** Recreates a dir tree of hard links to `from`'s files (same filesystem), or nothing when `from` does not exist. */
function linkTree(from: string, to: string): void {
  if (!existsSync(from)) return;
  mkdirSync(to, { recursive: true, mode: statSync(from).mode & 0o7777 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) linkTree(path.join(from, entry.name), path.join(to, entry.name));
    else if (entry.isFile()) linkSync(path.join(from, entry.name), path.join(to, entry.name));
  }
}

/**
 * The quick check before the swap (no page is copied or hashed): the same cell guid, nexus index and config files,
 * the same envs, each readable, with the same sub-dbs and entry counts. Returns what differs; empty when it may swap.
 */
export async function compareWithCell(cellDir: string, shadowDir: string, cellIndex: number): Promise<string[]> {
  const problems: string[] = [];
  const bytes = (dir: string, name: string) => (existsSync(path.join(dir, name)) ? readFileSync(path.join(dir, name)) : null);
  for (const name of ['cell.guid', 'cell.yaml', 'cell.mods.yaml']) {
    const [a, b] = [bytes(cellDir, name), bytes(shadowDir, name)];
    if (!(a === null ? b === null : b !== null && a.equals(b))) problems.push(`${name} differs`);
  }
  const shadowIndex = await nexusIndexOf(shadowDir).catch((error: unknown) => `unreadable (${errorMessage(error)})`);
  if (shadowIndex !== cellIndex) problems.push(`nexus index ${shadowIndex}, the cell's ${cellIndex}`);
  const [cell, shadow] = await Promise.all([scanCell(cellDir, { skipDirs: NOT_SHADOWED }), scanCell(shadowDir, { skipDirs: NOT_SHADOWED })]);
  const [cellEnvs, shadowEnvs] = [cell, shadow].map((t) => new Set(t.envs.map((e) => e.rel))) as [Set<string>, Set<string>];
  const missing = [...cellEnvs].filter((r) => !shadowEnvs.has(r)).sort();
  const extra = [...shadowEnvs].filter((r) => !cellEnvs.has(r)).sort();
  if (missing.length) problems.push(`envs missing: ${missing.join(', ')}`);
  if (extra.length) problems.push(`envs the cell does not have: ${extra.join(', ')}`);
  const both = [...cellEnvs].filter((r) => shadowEnvs.has(r)).sort();
  const [a, b] = await Promise.all([walkEnvs(both.map((r) => path.join(cellDir, r))), walkEnvs(both.map((r) => path.join(shadowDir, r)))]);
  both.forEach((rel, i) => {
    const [x, y] = [a.outcomes[i]!, b.outcomes[i]!];
    if (!y.ok) return problems.push(`${rel} unreadable: ${y.error}`);
    if (!x.ok) return problems.push(`the cell's ${rel} unreadable: ${x.error}`);
    const counts = (w: typeof x.walk) => new Map(w.dbs.map((d) => [d.name, d.entries] as const));
    const [cx, cy] = [counts(x.walk), counts(y.walk)];
    for (const [name, entries] of cx) {
      if (cy.get(name) !== entries) problems.push(`${rel} db ${JSON.stringify(name)}: ${cy.get(name) ?? 'missing'} entries, the cell's ${entries}`);
    }
    for (const name of cy.keys()) if (!cx.has(name)) problems.push(`${rel} db ${JSON.stringify(name)} the cell does not have`);
  });
  return problems;
}

/**
 * Online defrag cannot go on: the shadow is stopped and removed, and the run does the cold defrag, saying why. Only a
 * signal (the operator stopping synup) or a journal failure is not a reason to fall back: those are rethrown.
 */
export async function fallBackToCold(ctx: StepContext, error: unknown): Promise<void> {
  if (ctx.signal?.aborted) throw ctx.signal.reason;
  let reason = errorMessage(error);
  await removeShadow(ctx).catch((cleanup: unknown) => {
    reason += ` (and removing the shadow failed: ${errorMessage(cleanup)}; \`synup prune\` removes it later)`;
  });
  ctx.update((run) => {
    run.data.defrag = { mode: 'cold', reason: `online defrag fell back: ${reason}` };
  });
  ctx.progress(`online defrag falls back to the cold defrag: ${reason}`);
}
