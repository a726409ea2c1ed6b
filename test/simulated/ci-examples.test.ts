import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureCert } from '../sim/cert.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { realChangelog, repoRoot, synup } from '../support/helpers.js';

// docs/ci/ run as a CI runner would, against the sim instead of Synapse: every `run:` step of the GitHub workflow
// and every `script:` line of the GitLab job, in a repository laid out as the examples say (ci/rehearse.sh,
// ci/synup.yaml), with synup installed from the release tarball. What cannot run here: `uses:` actions (GitHub's
// runner), `apt-get` (no network in tests) and `pip install synapse` (the target is pre-installed, so rehearse.sh
// skips it); the only change to ci/synup.yaml is the service command, which starts the sim.

const docs = path.join(repoRoot, 'docs', 'ci');
const work = mkdtempSync(path.join(os.tmpdir(), 'synup-ci-'));
const TARGET = '2.182.0';
let tarball: string;
let server: Server;
let env: Record<string, string>;

/** The real changelog as it was at tag v2.182.0: its entries up to that release. */
function changelogAtTarget(): string {
  const text = readFileSync(realChangelog, 'utf8');
  const first = text.indexOf('\nv2.250.0 - ');
  return text.slice(0, first + 1) + text.slice(text.indexOf(`\nv${TARGET} - `) + 1);
}

beforeAll(async () => {
  const packed = await execa(process.execPath, [path.join(repoRoot, 'scripts', 'pack.mjs'), '--out', work, '--offline', '--no-build'], { cwd: repoRoot, timeout: 300_000 });
  tarball = packed.stdout.trim();

  const { cert, key } = await ensureCert(mkdirTemp('tls'));
  const body = changelogAtTarget();
  server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
    const ok = req.url === `/synapse/v${TARGET}/CHANGELOG.rst`;
    res.writeHead(ok ? 200 : 404);
    res.end(ok ? body : 'Not Found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const backups = mkdirTemp('backups');
  const cellDir = path.join(work, 'cortex00');
  await createSimCell(cellDir, { version: '2.180.0', seed: 7 });
  const backup = await synup(['backup', cellDir, path.join(backups, 'cortex00_20260101020000')]);
  expect(backup.exitCode, backup.stderr).toBe(0);

  // The target Synapse "installed" where ci/synup.yaml expects it (the sim stands in for it).
  const prefix = path.join(work, 'opt', 'synapse');
  mkdirSync(path.join(`${prefix}-${TARGET}`, 'bin'), { recursive: true });
  symlinkSync(process.execPath, path.join(`${prefix}-${TARGET}`, 'bin', 'python'));

  env = {
    TARGET,
    SYNUP_PACKAGE: tarball,
    BACKUPS: backups,
    SYNAPSE_PREFIX: prefix,
    REHEARSAL_PORT: String(await freePort()),
    SYNUP_CHANGELOG_BASE_URL: `https://127.0.0.1:${(server.address() as AddressInfo).port}/synapse`,
    NODE_EXTRA_CA_CERTS: cert,
    npm_config_offline: 'true',
    NO_COLOR: '1',
  };
}, 300_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

function mkdirTemp(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A fresh checkout of an operator's repository: ci/rehearse.sh and ci/synup.yaml from docs/ci/. */
function checkout(name: string): string {
  const repo = mkdirTemp(name);
  mkdirSync(path.join(repo, 'ci'));
  copyFileSync(path.join(docs, 'rehearse.sh'), path.join(repo, 'ci', 'rehearse.sh'));
  chmodSync(path.join(repo, 'ci', 'rehearse.sh'), 0o755);
  const yaml = readFileSync(path.join(docs, 'synup.yaml'), 'utf8');
  const command = /^ {4}command: .*$/m;
  expect(yaml).toMatch(command);
  const sim = `    command: ${JSON.stringify([process.execPath, SIM_CELL_JS, '{dir}', '--version', '{version}', '--port', '{port}'])}`;
  writeFileSync(path.join(repo, 'ci', 'synup.yaml'), yaml.replace(command, sim));
  return repo;
}

const shell = (line: string, cwd: string, extra: Record<string, string> = {}) =>
  execa('bash', ['-c', line], { cwd, env: { ...env, ...extra }, reject: false, stdin: 'ignore', timeout: 300_000 });

function expectPassedRehearsal(repo: string) {
  const report = JSON.parse(readFileSync(path.join(repo, 'rehearsal.json'), 'utf8'));
  expect(report).toMatchObject({ ok: true, from: '2.180.0', to: TARGET });
  expect(readFileSync(path.join(repo, 'rehearsal.junit.xml'), 'utf8')).toMatch(/failures="0"/);
  expect(readFileSync(path.join(repo, 'rehearsal.md'), 'utf8')).toMatch(new RegExp(`# Upgrade rehearsal 2\\.180\\.0 → ${TARGET.replace(/\./g, '\\.')}: PASSED`));
}

describe('docs/ci examples', () => {
  it('GitHub Actions: Node 24, and every run step passes against the sim', async () => {
    const workflow = parse(readFileSync(path.join(docs, 'github-actions-rehearse.yml'), 'utf8'));
    const steps = workflow.jobs.rehearse.steps as { uses?: string; run?: string; with?: Record<string, unknown> }[];
    expect(steps.find((s) => s.uses?.startsWith('actions/setup-node'))?.with).toEqual({ 'node-version': 24 });
    const repo = checkout('github');
    const summary = path.join(repo, 'step-summary.md');
    const runs = steps.flatMap((s) => s.run ?? []);
    expect(runs).toEqual(['bash ci/rehearse.sh', 'cat rehearsal.md >> "$GITHUB_STEP_SUMMARY"']);
    for (const run of runs) {
      const result = await shell(run, repo, { GITHUB_STEP_SUMMARY: summary });
      expect(result.exitCode, `${run}\n${result.stderr}`).toBe(0);
    }
    expectPassedRehearsal(repo);
    expect(readFileSync(summary, 'utf8')).toContain('PASSED');
  });

  it('GitLab CI: Node 24 image, and every script line but apt-get passes against the sim', async () => {
    const job = parse(readFileSync(path.join(docs, 'gitlab-ci-rehearse.yml'), 'utf8'))['synapse-upgrade-rehearsal'];
    expect(job.image).toBe('node:24-bookworm');
    const repo = checkout('gitlab');
    const lines = (job.script as string[]).filter((line) => !line.startsWith('apt-get '));
    expect(lines).toEqual(['bash ci/rehearse.sh']);
    for (const line of lines) {
      const result = await shell(line, repo);
      expect(result.exitCode, `${line}\n${result.stderr}`).toBe(0);
    }
    expectPassedRehearsal(repo);
    for (const artifact of job.artifacts.paths as string[]) expect(readFileSync(path.join(repo, artifact), 'utf8').length).toBeGreaterThan(0);
  });

  it('rehearse.sh stops with a clear message when TARGET is not set', async () => {
    const repo = checkout('unset');
    const result = await shell('bash ci/rehearse.sh', repo, { TARGET: '' });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/TARGET: set TARGET to the Synapse version to rehearse/);
  });
});
