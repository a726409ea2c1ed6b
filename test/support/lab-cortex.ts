// Helpers of the tests that run the lab's real Cortex (SYN_LAB, ../shared/synapse-lab/README.md): why they are
// skipped, process groups, HTTPS with the Cortex's own certificate, Storm writes and reads, a client writing
// throughout an upgrade.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { waitFor } from './budget.js';
import { runCortexScript } from './helpers.js';

export const LAB = process.env.SYN_LAB;

/** Why the real-Cortex tests cannot run here, or null. */
export const labSkipReason = !LAB
  ? 'set SYN_LAB to a directory prepared by ../shared/synapse-lab/setup.sh'
  : !existsSync(path.join(LAB, '.ok'))
    ? `${LAB} is not set up (no .ok): run ../shared/synapse-lab/setup.sh "$SYN_LAB"`
    : !existsSync(runCortexScript)
      ? `${runCortexScript} is missing (set SYN_LAB_RUN_CORTEX)`
      : null;

/** PYTHONPATH that runs Synapse `version` of the lab. */
export const labPythonPath = (lab: string, version: string) => ['pylib', 'pylib-legacy', 'stubs', `src-v${version}`].map((d) => path.join(lab, d)).join(':');

/**
 * synup.yaml (as an object) for the lab Cortex `./<name>` served by the process adapter through run-cortex.sh, the
 * version's own changelog, state in ./state; `extra` adds or replaces top-level keys (backup, …).
 */
export function labSynupConfig(lab: string, name: string, health: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    cell: { name, dir: `./${name}` },
    state: { dir: './state' },
    changelog: path.join(lab, 'src-v2.250.0', 'CHANGELOG.rst'),
    service: { adapter: 'process', stopTimeout: '30s', process: { command: [runCortexScript, `${lab}/src-v{version}`, '{dir}'] } },
    health,
    ...extra,
  };
}

/** Prints a cell's nexus index (Synapse's getNexsIndx) given its telepath URL. */
export const NEXUS_INDEX = `import asyncio, sys
import synapse.telepath as s_telepath
async def main():
    async with await s_telepath.openurl(sys.argv[1]) as cell:
        print(await cell.getNexsIndx())
asyncio.run(main())`;

/** Live members of a process group, from /proc. */
export function groupMembers(pgid: number): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]) === pgid && fields[0] !== 'Z';
    } catch {
      return false;
    }
  }).map(Number);
}

/** SIGKILL to every live member of these process groups (test clean-up). */
export function killGroups(pgids: number[]): void {
  for (const pgid of pgids) for (const pid of groupMembers(pgid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Process groups of every process whose command line names something under `dir` (whoever started it). */
export function groupsUnder(dir: string): number[] {
  const groups = new Set<number>();
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.startsWith(dir))) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      groups.add(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]));
    } catch {
      // gone
    }
  }
  return [...groups];
}

/** Polls `probe` every 0.5 s (an error counts as not yet) until it answers, within a load-scaled budget. */
export function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<NonNullable<T>> {
  return waitFor(() => probe().catch(() => null), `waiting for ${what}`, { timeoutMs, intervalMs: 500 });
}

/** A Cortex of the lab reached over HTTPS: its cell dir (for its certificate) and HTTPS port. */
export interface LabCortex {
  dir: string;
  port: number;
  /** root's password (`auth:passwd`); default `secret`. */
  password?: string;
}

/** HTTPS to a Cortex of the lab: its own certificate pinned by content (its name is `cortex`, not 127.0.0.1). */
export function api(cortex: LabCortex, method: 'GET' | 'POST', route: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; text: string }> {
  const cert = readFileSync(path.join(cortex.dir, 'sslcert.pem'));
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: cortex.port, path: route, method, ca: cert, checkServerIdentity: () => undefined, auth: `root:${cortex.password ?? 'secret'}`, timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${route}: no answer`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export const isActive = async (cortex: LabCortex) => JSON.parse((await api(cortex, 'GET', '/api/v1/active', undefined, 5000)).text).result.active as boolean;

/** One node written through Storm; true once the Cortex acknowledged it. */
export async function writeNode(cortex: LabCortex, name: string): Promise<boolean> {
  const r = await api(cortex, 'POST', '/api/v1/storm/call', { query: '[inet:fqdn=$n] return($node.repr())', opts: { vars: { n: name } } }, 10_000).catch(() => null);
  return r?.status === 200 && JSON.parse(r.text).status === 'ok';
}

/** `count` inet:fqdn nodes b0.<domain>, b1.<domain>… made by one Storm loop (20 000 take ~16 s on the lab Cortex). */
export async function seedNodes(cortex: LabCortex, domain: string, count: number): Promise<void> {
  const r = await api(cortex, 'POST', '/api/v1/storm/call', { query: 'for $i in $lib.range($n) { [inet:fqdn=`b{$i}.{$d}`] } fini { return($n) }', opts: { vars: { n: count, d: domain } } }, 600_000);
  if (r.status !== 200 || JSON.parse(r.text).status !== 'ok') throw new Error(`seeding ${count} nodes on port ${cortex.port}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
}

/** Concatenated JSON texts (how /api/v1/storm streams its messages, without separators) → the values. */
function jsonTexts(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++ === 0 && (start = i);
    else if ((c === ']' || c === '}') && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
  }
  return values;
}

/** Every inet:fqdn under that domain on that Cortex (Storm messages streamed by /api/v1/storm), sorted. */
export async function nodesUnder(cortex: LabCortex, domain: string): Promise<string[]> {
  const r = await api(cortex, 'POST', '/api/v1/storm', { query: 'inet:fqdn:domain=$d', opts: { vars: { d: domain } } });
  const messages = jsonTexts(r.text) as [string, unknown][];
  const err = messages.find((m) => m[0] === 'err');
  if (err) throw new Error(`storm on port ${cortex.port}: ${JSON.stringify(err[1]).slice(0, 300)}`);
  return messages.filter((m) => m[0] === 'node').map((m) => (m[1] as [[string, string]])[0][1]).sort();
}

export interface WriterReport {
  /** Names acknowledged, in order, with when. */
  acked: { name: string; at: number }[];
  failed: number;
  /** The longest time between two acknowledged writes (ms): the client-visible downtime. */
  longestGap: number;
  /** What the client saw during the longest gap: each attempt's outcome per target, in order. */
  gapAttempts: string[];
}

/**
 * A client writing one node every `periodMs` under `domain` until stopped, as a client given several endpoints does:
 * to the one that acknowledged last, failing over to the others in order (bench/deploy-writes.mjs writes the same way).
 */
export function writeThroughout(targets: LabCortex[], domain: string, periodMs = 100): { stop: () => Promise<WriterReport> } {
  const acked: WriterReport['acked'] = [];
  const attempts: { at: number; outcome: string }[] = [];
  let failed = 0;
  let current = 0;
  let writing = true;
  const loop = (async () => {
    for (let i = 0; writing; i++) {
      const tick = Date.now();
      const name = `w${i}.${domain}`;
      let ok = false;
      const tried: string[] = [];
      for (let k = 0; k < targets.length && !ok; k++) {
        const at = (current + k) % targets.length;
        const began = Date.now();
        ok = await writeNode(targets[at]!, name);
        tried.push(`:${targets[at]!.port} ${ok ? 'ok' : 'failed'} in ${Date.now() - began} ms`);
        if (ok) current = at;
      }
      attempts.push({ at: tick, outcome: tried.join(', ') });
      if (ok) acked.push({ name, at: Date.now() });
      else failed++;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, periodMs - (Date.now() - tick))));
    }
  })();
  return {
    stop: async () => {
      writing = false;
      await loop;
      let longestGap = 0;
      let gapEnd = 0;
      for (let i = 1; i < acked.length; i++) {
        if (acked[i]!.at - acked[i - 1]!.at > longestGap) [longestGap, gapEnd] = [acked[i]!.at - acked[i - 1]!.at, acked[i]!.at];
      }
      const gapAttempts = attempts.filter((a) => a.at >= gapEnd - longestGap && a.at <= gapEnd).map((a) => `${new Date(a.at).toISOString().slice(11, 23)} ${a.outcome}`);
      return { acked, failed, longestGap, gapAttempts };
    },
  };
}
