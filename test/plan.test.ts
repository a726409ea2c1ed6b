import { createServer, type Server } from 'node:http';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot, sharedChangelog, synup, tempDir } from './helpers.js';

const fixture = path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.rst');
const listing = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

async function serve(body: string, status = 200): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  server = createServer((_req, res) => {
    hits++;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/CHANGELOG.rst`, hits: () => hits };
}

describe('synup plan', () => {
  it.skipIf(!existsSync(sharedChangelog))('prints the migrations of the real changelog as JSON with the documented shape', async () => {
    const { stdout, exitCode } = await synup(['plan', '--from', '2.176.0', '--to', '2.182.0', '--changelog', sharedChangelog, '--json']);
    expect(exitCode).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan).toMatchObject({ from: '2.176.0', to: '2.182.0', probesMustBeDisabled: true });
    expect(plan.releases.map((r: { version: string }) => r.version)).toEqual(['2.177.0', '2.178.0', '2.179.0', '2.180.0', '2.180.1', '2.181.0', '2.182.0']);
    expect([...new Set(plan.migrations.map((m: { version: string }) => m.version))]).toEqual(['2.177.0', '2.180.0', '2.181.0']);
    expect(Object.keys(plan.migrations[0]).sort()).toEqual(['date', 'links', 'source', 'text', 'version', 'warning']);
    expect(plan.steps.map((s: { name: string }) => s.name)).toEqual(['preflight', 'backup-gate', 'probes-off', 'stop', 'cold-defrag', 'start', 'wait-migrations', 'confirm', 'probes-on', 'finish']);
  });

  it('renders a table on stderr, a Markdown runbook with warnings first, and standalone HTML to a file', async () => {
    const text = await synup(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture]);
    expect(text.exitCode).toBe(0);
    expect(text.stderr).toMatch(/\| Version \| Date +\| Source +\| Warning \| Migration/);
    expect(text.stderr).toMatch(/WARNING 2\.5\.0: WARNING - It is strongly advised/);
    const md = await synup(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'md']);
    expect(md.stdout.indexOf('## Warnings')).toBeLessThan(md.stdout.indexOf('## Migrations'));
    expect(md.stdout).toMatch(/^1\. \[ \] \*\*Preflight checks\*\*/m);
    const dir = tempDir();
    const html = await synup(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'html', '-o', 'runbook.html'], { cwd: dir });
    expect(html.exitCode).toBe(0);
    const page = readFileSync(path.join(dir, 'runbook.html'), 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<blockquote>');
    expect(page).toContain('@media print');
    expect(page).not.toMatch(/<script|<link /);
  });

  it('fetches a changelog URL once and then works from the cache', async () => {
    const { url, hits } = await serve(readFileSync(fixture, 'utf8'));
    const state = tempDir();
    const env = { SYNUP_STATE_DIR: state };
    for (let i = 0; i < 2; i++) {
      const { exitCode, stdout } = await synup(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', url, '--json'], { env });
      expect(exitCode).toBe(0);
      expect(JSON.parse(stdout).migrations).toHaveLength(3);
    }
    expect(hits()).toBe(1);
    expect(readdirSync(path.join(state, 'changelogs'))).toHaveLength(1);
  });

  describe('bad input: one-line reason, exit code, nothing written', () => {
    const cases: [string, string[], number, RegExp][] = [
      ['downgrade', ['--from', '2.5.0', '--to', '2.1.0', '--changelog', fixture], 3, /refusing to downgrade from 2\.5\.0 to 2\.1\.0/],
      ['equal versions', ['--from', '2.3.0', '--to', '2.3.0', '--changelog', fixture], 2, /nothing to upgrade/],
      ['unknown version', ['--from', '2.3.5', '--to', '2.5.0', '--changelog', fixture], 2, /--from 2\.3\.5 is not a release .* nearest known: 2\.3\.0 and 2\.4\.0/],
      ['malformed version', ['--from', '2.x', '--to', '2.5.0', '--changelog', fixture], 2, /"2\.x" is not a version/],
      ['missing --to', ['--from', '2.3.0', '--changelog', fixture], 2, /required option '--to <version>' not specified/],
      ['missing changelog file', ['--from', '2.3.0', '--to', '2.5.0', '--changelog', 'nope.rst'], 2, /cannot read changelog .*nope\.rst: ENOENT/],
      ['no changelog at all', ['--from', '2.3.0', '--to', '2.5.0'], 2, /no changelog given/],
      ['no from and no dir', ['--to', '2.5.0', '--changelog', fixture], 2, /no current version/],
      ['unknown format', ['--from', '2.3.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'pdf'], 2, /argument 'pdf' is invalid/],
    ];
    it.each(cases)('%s', async (_name, args, code, message) => {
      const dir = tempDir();
      writeFileSync(path.join(dir, 'keep.txt'), 'x');
      const before = listing(dir);
      const result = await synup(['plan', ...args], { cwd: dir, env: { SYNUP_STATE_DIR: path.join(dir, 'state') } });
      expect(result.exitCode).toBe(code);
      expect(result.stderr).toMatch(message);
      expect(result.stdout).toBe('');
      expect(listing(dir)).toEqual(before);
    });

    it.each([
      ['empty', '\n\n', /is empty/],
      ['binary', 'v2.0.0 - 2024-01-01\n===\n\u0000\u0000\n', /is binary/],
      ['without releases', 'Release notes\n\nnothing here\n', /has no releases/],
      ['truncated', 'v2.5.0 - 2024-03-01\n===================\n\n- Half a bul', /appears truncated/],
    ])('a changelog that is %s', async (_name, text, message) => {
      const dir = tempDir();
      writeFileSync(path.join(dir, 'CHANGELOG.rst'), text);
      const before = listing(dir);
      const result = await synup(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', 'CHANGELOG.rst'], { cwd: dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.split('\n')[0]).toMatch(message);
      expect(listing(dir)).toEqual(before);
    });

    it('an unreachable URL', async () => {
      const { url } = await serve('');
      server!.close();
      const state = tempDir();
      const result = await synup(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', url], { env: { SYNUP_STATE_DIR: state } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/cannot fetch changelog http:\/\/127\.0\.0\.1:\d+\/CHANGELOG\.rst: ECONNREFUSED/);
      expect(existsSync(path.join(state, 'changelogs'))).toBe(false);
    });

    it('an HTTP error', async () => {
      const { url } = await serve('gone', 404);
      const result = await synup(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', url], { env: { SYNUP_STATE_DIR: tempDir() } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/HTTP 404/);
    });
  });
});
