import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDocument } from 'yaml';
import { writeFileAtomic } from '../fsutil.js';
import { execa } from 'execa';
import { errorMessage, SynupError } from '../errors.js';
import { formatDuration } from '../units.js';
import type { CellSession } from '../runner/session.js';
import type { MirrorCommands } from './file.js';
import { processEnv } from '../config/environment.js';
import { outputCut, TOOL_OUTPUT_LIMITS } from '../proc.js';

const POLL_MS = 250;

/** `{dir}`, `{port}`, `{host}`, `{name}` of the service a mirror command is run for. */
function fill(template: string[], session: CellSession): string[] {
  const values: Record<string, string> = { dir: session.cellDir, port: String(session.config.health.port), host: session.config.health.host, name: session.cellName };
  return template.map((arg) => arg.replace(/\{(dir|port|host|name)\}/g, (_, key: string) => values[key]!));
}

/**
 * Runs a mirror command where the service runs (through its adapter: as is, `docker compose exec`, `kubectl exec`).
 * `detached`: in its own process group, so a terminal's Ctrl-C (sent to synup's whole foreground group) cannot cut it
 * short: synup traps the signal and waits for it.
 */
async function runCommand(commands: MirrorCommands, template: string[], session: CellSession, detached = false): Promise<string> {
  const argv = await session.adapter.execArgv(fill(template, session));
  const result = await execa(argv[0]!, argv.slice(1), { env: { ...processEnv(), ...commands.env }, timeout: commands.commandTimeout, reject: false, stdin: 'ignore', detached, maxBuffer: TOOL_OUTPUT_LIMITS });
  const cut = outputCut(result);
  if (cut) throw new SynupError('failed', `${argv[0]} ${argv.slice(1).join(' ')} for ${session.cellName} ${cut}`, { hint: 'a mirror command prints a nexus index or a short status; check the command in the deployment file' });
  if (result.exitCode !== 0 || result.timedOut) {
    const why = result.timedOut ? `no answer within ${formatDuration(commands.commandTimeout)}` : `exit ${result.exitCode ?? result.signal}`;
    const last = `${result.stderr}\n${result.stdout}`.trim().split('\n').at(-1) ?? '';
    throw new SynupError('failed', `${argv[0]} ${argv.slice(1).join(' ')} for ${session.cellName}: ${why}${last ? `: ${last.slice(0, 300)}` : ''}`);
  }
  return result.stdout;
}

/** The service's nexus index (Synapse's getNexsIndx): the offset its next change will take. */
export async function nexusIndex(commands: MirrorCommands, session: CellSession): Promise<number> {
  const stdout = await runCommand(commands, commands.nexusIndex, session);
  const value = stdout.trim().split('\n').at(-1)?.trim() ?? '';
  if (!/^\d+$/.test(value)) throw new SynupError('failed', `mirror.nexusIndex for ${session.cellName} printed ${JSON.stringify(value.slice(0, 80))}, not a nexus index (a whole number)`, { hint: 'check mirror.nexusIndex in the deployment file' });
  return Number(value);
}

/**
 * A mirror is caught up when its nexus index reaches the leader's, read once before waiting (writes go on; the
 * mirror must have everything the leader had when asked) — and it answers as a ready mirror.
 */
export async function waitCaughtUp(commands: MirrorCommands, mirror: CellSession, leader: CellSession, signal?: AbortSignal, onLeaderIndex?: () => void): Promise<{ mirrorIndex: number; leaderIndex: number; waitedMs: number }> {
  const started = Date.now();
  const leaderIndex = await nexusIndex(commands, leader);
  onLeaderIndex?.();
  let last = 'no answer yet';
  while (Date.now() - started < commands.catchUpTimeout) {
    signal?.throwIfAborted();
    try {
      const ready = await mirror.health.check();
      if (!ready.active) last = `not ready: ${ready.detail}`;
      else {
        const mirrorIndex = await nexusIndex(commands, mirror);
        if (mirrorIndex >= leaderIndex) return { mirrorIndex, leaderIndex, waitedMs: Date.now() - started };
        last = `nexus index ${mirrorIndex} of ${leaderIndex}`;
      }
    } catch (error) {
      last = errorMessage(error);
    }
    await sleep(POLL_MS);
  }
  throw new SynupError('failed', `${mirror.cellName} did not catch up with ${leader.cellName} within ${formatDuration(commands.catchUpTimeout)} (${last})`, {
    hint: `is ${mirror.cellName}'s mirror: URL (cell.yaml) pointing at ${leader.cellName}? raise mirror.catchUpTimeout for a large backlog`,
  });
}

/**
 * A Cortex parses Storm in a process pool it starts on the first query (1.3–1.6 s on the lab's real Cortex): on a
 * mirror that never ran one, that start would fall on the first writes after its promotion, and on the model
 * migrations the promotion starts. One authenticated Storm call (the version read) before promoting takes that wait
 * out of the client-visible downtime, and proves the mirror runs the target version. `unwarmed`: why it could not.
 */
export async function warmStorm(mirror: CellSession, to: string): Promise<{ version: string; ms: number } | { unwarmed: string }> {
  if (mirror.config.health.check === 'tool') return { unwarmed: 'health.check is tool, so synup has no HTTPS session to run Storm through' };
  const started = Date.now();
  const version = await mirror.health.readVersion();
  if (version === null) return { unwarmed: mirror.config.health.password === undefined ? 'no health password (set health.password or SYNUP_HEALTH_PASSWORD)' : 'it refused health.username/health.password' };
  if (version !== to) throw new SynupError('refused', `${mirror.cellName} answers Synapse ${version}, not ${to}: not promoting it`, { hint: `is ${mirror.cellName}'s health.port its own? \`synup -c <its synup.yaml> status\`` });
  return { version, ms: Date.now() - started };
}

/** A cell's nexus index read for the failure-mode gate; `text` says whose and how (`cortex00 stopped at 12`). */
export interface IndexHolder {
  index: number;
  text: string;
}

/**
 * Why promoting a mirror at `mirrorIndex` would lose acknowledged writes or fork the lane: holders (the stopped
 * leader, the other mirrors) with entries it lacks; null when it has them all. A mirror copies its leader's entries
 * at the same offsets, so an index at least as high holds every one of them.
 */
export function promotionShortfall(mirror: string, mirrorIndex: number, holders: IndexHolder[]): string | null {
  const ahead = holders.filter((h) => h.index > mirrorIndex).sort((a, b) => b.index - a.index);
  if (!ahead.length) return null;
  const lost = ahead[0]!.index - mirrorIndex;
  return `${mirror} has nexus index ${mirrorIndex}, less than ${ahead.map((h) => h.text).join(' and ')}: promoting it would lose ${lost} entr${lost === 1 ? 'y' : 'ies'}`;
}

/** Runs the promotion command for the mirror, never cut short by a signal; says how long it took. */
export async function promote(commands: MirrorCommands, mirror: CellSession): Promise<number> {
  const started = Date.now();
  await runCommand(commands, commands.promote, mirror, true);
  return Date.now() - started;
}

/**
 * Points a stopped cell at its new leader the way Synapse's hand-off does (`modCellConf({'mirror': url})`): the
 * `mirror` key of its cell.mods.yaml, every other key and comment kept; written atomically. cell.yaml is not touched.
 */
export function setMirrorOf(cellDir: string, url: string): void {
  const file = path.join(cellDir, 'cell.mods.yaml');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const doc = parseDocument(text.trim() === '' ? '{}' : text);
  if (doc.errors.length) throw new SynupError('failed', `${file} is not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); not changing it`, { hint: 'fix the file, then `synup deploy resume`' });
  doc.set('mirror', url);
  writeFileAtomic(file, doc.toString(), 0o600);
}
