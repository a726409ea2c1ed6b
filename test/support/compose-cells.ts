// Compose projects around a real Cortex image of the container lab (scripts/container-lab.sh), for the tests of
// test/containers/: one temp dir per cell holding docker-compose.yaml, synup.yaml and the cell dir (bind-mounted at
// /vertex/storage, owned by uid 999 as in Vertex's deployment guide). Every project and container is named with
// `prefix` (unique per test file and process) and removed with its volumes by `removeAll`; nothing else on the engine
// is touched.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { Journal } from '../../src/runner/journal.js';
import type { RunRecord } from '../../src/runner/journal.js';
import { cortexImage, docker, freePort, labEnv, type ContainerLab } from './container-lab.js';
import { synup } from './helpers.js';
import { api, until } from './lab-cortex.js';

export interface ComposeCell {
  work: string;
  cellDir: string;
  project: string;
  /** The container compose names for the service (`<project>-cortex-1`). */
  container: string;
  port: number;
  compose(args: string[], timeoutMs?: number): ReturnType<typeof docker>;
  synup(args: string[], timeoutMs?: number): ReturnType<typeof synup>;
}

export interface ComposeCellOptions {
  /** A stopped cell dir to copy (default: a new empty cell). */
  from?: string;
  restart?: string;
  health?: Record<string, unknown>;
  /** The image as the operator's compose file writes it (default: the literal `version` tag); `env`: the project's .env. */
  image?: string;
  env?: string;
  compose?: Record<string, unknown>;
  /** The version the file names (default 2.242.0). */
  version?: string;
}

/** A stopped cell's copy, sparse as its LMDB files are (a plain copy of a 2.242.0 Cortex writes ~13 GB of zeros). */
export const copyCell = (from: string, to: string) => execFileSync('cp', ['-a', '--sparse=always', from, to]);

export function composeCells(lab: ContainerLab, prefix: string) {
  const cells: ComposeCell[] = [];
  let serial = 0;

  async function newCell(options: ComposeCellOptions = {}): Promise<ComposeCell> {
    const n = serial++;
    const work = path.join(os.tmpdir(), `synup-ct-${prefix}-${process.pid}-${n}-${Date.now()}`);
    const cellDir = path.join(work, 'cortex00');
    mkdirSync(work, { recursive: true });
    if (options.from) copyCell(options.from, cellDir);
    else {
      mkdirSync(cellDir);
      writeFileSync(path.join(cellDir, 'cell.yaml'), 'https:port: 4443\nauth:passwd: secret\n');
    }
    execFileSync('chown', ['-R', '999:999', cellDir]);
    const port = await freePort();
    const project = `synupct${prefix}${process.pid}x${n}`;
    const image = options.image ?? cortexImage(lab, options.version ?? '2.242.0');
    writeFileSync(
      path.join(work, 'docker-compose.yaml'),
      stringify({ services: { cortex: { image, user: '999', restart: options.restart ?? 'unless-stopped', volumes: ['./cortex00:/vertex/storage'], ports: [`127.0.0.1:${port}:4443`], stop_grace_period: '30s' } } }),
    );
    if (options.env) writeFileSync(path.join(work, '.env'), options.env);
    writeFileSync(
      path.join(work, 'synup.yaml'),
      stringify({
        cell: { name: 'cortex00', dir: './cortex00' },
        state: { dir: './state' },
        backup: { dir: './backups', maxAge: '1h' },
        service: { adapter: 'compose', stopTimeout: '30s', compose: { file: 'docker-compose.yaml', service: 'cortex', project, image: `${lab.registry}/vertexproject/synapse-cortex`, ...options.compose } },
        health: { check: 'https', port, startTimeout: '3m', ...options.health },
      }),
    );
    const env = labEnv(lab);
    const cell: ComposeCell = {
      work,
      cellDir,
      project,
      container: `${project}-cortex-1`,
      port,
      compose: (args, timeoutMs) => docker(lab, ['compose', '-p', project, ...args], { cwd: work, timeoutMs }),
      synup: (args, timeoutMs = 600_000) => synup(args, { cwd: work, env: { ...env, SYNUP_HEALTH_PASSWORD: 'secret' }, timeout: timeoutMs }),
    };
    cells.push(cell);
    return cell;
  }

  /** `down -v` of the cell's project (its containers, networks and volumes: only what this test created), then its dir. */
  async function removeCell(cell: ComposeCell): Promise<void> {
    await docker(lab, ['compose', '-p', cell.project, 'down', '-v', '-t', '5'], { cwd: cell.work });
    rmSync(cell.work, { recursive: true, force: true });
    if (cells.includes(cell)) cells.splice(cells.indexOf(cell), 1);
  }

  return {
    newCell,
    removeCell,
    async removeAll() {
      for (const cell of [...cells]) await removeCell(cell);
    },
  };
}

export const cortexOf = (cell: ComposeCell) => ({ dir: cell.cellDir, port: cell.port });

export const active = (cell: ComposeCell, timeoutMs = 180_000) =>
  until(`the Cortex on 127.0.0.1:${cell.port} active`, timeoutMs, async () => {
    const r = await api(cortexOf(cell), 'GET', '/api/v1/active', undefined, 5000);
    return JSON.parse(r.text).result?.active === true ? true : null;
  });

/** Storm through /api/v1/storm/call as root; the result, or throws with the answer. */
export async function stormCall(cell: ComposeCell, query: string, vars: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<unknown> {
  const r = await api(cortexOf(cell), 'POST', '/api/v1/storm/call', { query, opts: { vars } }, timeoutMs);
  const body = JSON.parse(r.text) as { status: string; result?: unknown };
  if (r.status !== 200 || body.status !== 'ok') throw new Error(`storm ${query.slice(0, 80)}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return body.result;
}

export const formCounts = async (cell: ComposeCell) => (await stormCall(cell, 'return($lib.view.get().getFormCounts())', {}, 60_000)) as Record<string, number>;

/**
 * A seeded cell: 200 fqdns and `cards` econ:pay:card nodes with a :pan (2.250.0's model migration (0, 2, 36) makes an
 * econ:pay:pan of each: its length grows with `cards`), written by `version` in a container, stopped, and copied to
 * a template dir (returned; the caller removes it).
 */
export async function seedTemplate(cells: ReturnType<typeof composeCells>, options: { cards: number; version?: string; name: string }): Promise<string> {
  const seed = await cells.newCell({ version: options.version });
  const up = await seed.compose(['up', '-d', 'cortex']);
  if (up.exitCode !== 0) throw new Error(`compose up of the seed cell: ${String(up.stderr)}`);
  await active(seed);
  // `fini { return() }`: a bare return would end the query at the first node
  await stormCall(seed, 'for $i in $lib.range(200) { [inet:fqdn=`h{$i}.synup.test`] } fini { return((0)) }');
  await stormCall(seed, 'for $i in $lib.range($c) { [econ:pay:card=* :pan=`4111110000{$i}`] } fini { return((0)) }', { c: options.cards });
  const stop = await seed.compose(['stop', '-t', '30', 'cortex']);
  if (stop.exitCode !== 0) throw new Error(`compose stop of the seed cell: ${String(stop.stderr)}`);
  const template = path.join(os.tmpdir(), `synup-ct-template-${options.name}-${process.pid}`);
  rmSync(template, { recursive: true, force: true });
  copyCell(seed.cellDir, template);
  await cells.removeCell(seed);
  return template;
}

/** The container log with Docker's stamps: [stamp, text] (compose's ESC[2K removed). */
export async function stampedLog(cell: ComposeCell): Promise<[string, string][]> {
  const { stdout } = await cell.compose(['logs', '--no-log-prefix', '--timestamps', 'cortex']);
  return String(stdout)
    .split('\n')
    // eslint-disable-next-line no-control-regex
    .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''))
    .filter((l) => /^\d{4}-/.test(l))
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]);
}

export interface ContainerState {
  Id: string;
  RestartCount: number;
  Config: { Image: string; Healthcheck?: { Test?: string[] } };
  Image: string;
  State: { Status: string; Running: boolean; Pid: number; StartedAt: string; Health?: { Status: string } };
}

/** `docker inspect` of the cell's container; null when there is none. */
export async function inspectContainer(lab: ContainerLab, cell: ComposeCell): Promise<ContainerState | null> {
  const r = await docker(lab, ['inspect', cell.container]);
  if (r.exitCode !== 0) return null;
  return (JSON.parse(String(r.stdout)) as ContainerState[])[0] ?? null;
}

/** The cell's latest run in synup's journal. */
export async function latestRun(cell: ComposeCell): Promise<RunRecord | undefined> {
  const journal = Journal.open(path.join(cell.work, 'state'));
  try {
    return journal.latest(cell.cellDir);
  } finally {
    await journal.close();
  }
}

export const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
