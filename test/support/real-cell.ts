// A real Cortex of the lab (SYN_LAB) for the real-tier tests that upgrade one cell through the CLI: the cell, its
// synup.yaml (process adapter, the real changelog, state in ./state), started and active; Storm through its HTTPS API.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { waitForActive } from '../../src/health/index.js';
import { createAdapter } from '../../src/service/index.js';
import { realChangelog, runCortexScript, synup } from './helpers.js';
import { freePort } from '../sim/index.js';

const LAB = process.env.SYN_LAB ? path.resolve(process.env.SYN_LAB) : undefined;
const RUN_CORTEX = runCortexScript;
/** The cell's `auth:passwd`, which synup gets as SYNUP_HEALTH_PASSWORD. */
export const PASSWORD = 'real-secret';
/** util-linux setpriv: runs the Cortex as another uid. */
export const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export interface RealCell {
  work: string;
  cellDir: string;
  port: number;
  logFile: string;
  pidFile: string;
  storm(query: string): Promise<unknown>;
  /** Bulk edits: /api/v1/storm streams messages; any "err" message fails. */
  stormEdit(query: string): Promise<void>;
  upgrade(args: string[]): ReturnType<typeof synup>;
  stop(): Promise<void>;
}

/**
 * A Cortex at `version` with a synup.yaml for it, started by the process adapter (as synup will restart it), active.
 * `asUser`: the cell belongs to that uid and the service runs as it (setpriv in the configured command).
 */
export async function realCell(options: { version: string; asUser?: number; noSpawn?: boolean; extraYaml?: string }): Promise<RealCell> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'synup-real-'));
  chmodSync(work, 0o755);
  const cellDir = path.join(work, 'cortex00');
  mkdirSync(cellDir);
  const [port, dmonPort] = [await freePort(), await freePort()];
  writeFileSync(path.join(cellDir, 'cell.yaml'), `https:port: ${port}\nauth:passwd: ${PASSWORD}\ndmon:listen: tcp://127.0.0.1:${dmonPort}/\n`);
  if (options.asUser !== undefined) chownSync(cellDir, options.asUser, options.asUser), chownSync(path.join(cellDir, 'cell.yaml'), options.asUser, options.asUser);
  const asUser = options.asUser === undefined ? [] : [SETPRIV ?? 'setpriv', `--reuid=${options.asUser}`, `--regid=${options.asUser}`, '--clear-groups'];
  const command = [...asUser, RUN_CORTEX, `${LAB}/src-v{version}`, '{dir}'];
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {name: cortex00, dir: ./cortex00}',
      `changelog: ${JSON.stringify(realChangelog)}`,
      'state: {dir: ./state}',
      'backup: {dir: ./backups, maxAge: 1h}',
      'service:',
      '  adapter: process',
      '  stopTimeout: 30s',
      `  process: {command: ${JSON.stringify(command)}, env: ${JSON.stringify(options.noSpawn ? { SYNDEV_CELL_DRIVE_NOSPAWN: '1' } : {})}}`,
      `health: {port: ${port}, startTimeout: 2m}`,
      options.extraYaml ?? '',
      '',
    ].join('\n'),
  );
  const { config } = loadConfig({ cwd: work });
  const adapter = () => createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
  await adapter().start(options.version);
  await waitForActive({ host: '127.0.0.1', port, cellDir, deadlineMs: 180_000 });

  const post = (route: string, query: string) =>
    new Promise<string>((resolve, reject) => {
      // The cell's own certificate names `cortex` (CN and subjectAltName): trust it for that name.
      const request = https.request(
        { host: '127.0.0.1', servername: 'cortex', port, path: route, method: 'POST', ca: readFileSync(path.join(cellDir, 'sslcert.pem')), auth: `root:${PASSWORD}`, agent: false, timeout: 60_000 },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve(body));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${route}: no answer in 60 s`)));
      request.on('error', reject);
      request.end(JSON.stringify({ query }));
    });
  return {
    work,
    cellDir,
    port,
    logFile: path.join(work, 'state', 'cortex00.log'),
    pidFile: path.join(work, 'state', 'cortex00.pid'),
    async storm(query) {
      const answer = JSON.parse(await post('/api/v1/storm/call', query)) as { status: string; result?: unknown; mesg?: string };
      if (answer.status !== 'ok') throw new Error(`storm ${query}: ${answer.mesg}`);
      return answer.result;
    },
    async stormEdit(query) {
      const messages = await post('/api/v1/storm', query);
      if (/"err"/.test(messages)) throw new Error(`storm ${query}: ${messages.slice(0, 500)}`);
    },
    upgrade: (args) => synup(['upgrade', '-y', '--json', ...args], { cwd: work, env: { CI: 'true', SYNUP_HEALTH_PASSWORD: PASSWORD }, timeout: 420_000 }),
    async stop() {
      await adapter().stop({ timeoutMs: 30_000 }).catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
    },
  };
}
