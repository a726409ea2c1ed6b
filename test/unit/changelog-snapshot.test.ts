import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCert } from '../sim/cert.js';
import { realChangelog, synup, tempDir } from '../support/helpers.js';

/** The real file's newest entry, and a release after it made by prepending an entry to the real text. */
const snapshot = readFileSync(realChangelog, 'utf8');
const NEXT = '2.251.0';
const next = snapshot.replace(
  'v2.250.0 - 2026-08-21\n',
  `v${NEXT} - 2026-09-01\n=====================\n\nAutomatic Migrations\n--------------------\n- Migrated the test index to a new layout.\n\nv2.250.0 - 2026-08-21\n`,
);

describe('the built-in changelog snapshot', () => {
  it('is the default changelog, named with its newest entry in every plan format', async () => {
    const env = { XDG_STATE_HOME: tempDir() };
    const text = await synup(['plan', '--from', '2.240.0', '--to', '2.250.0'], { env });
    expect(text.exitCode).toBe(0);
    expect(text.stderr).toContain("Changelog: built-in snapshot of Synapse's CHANGELOG.rst (newest entry 2.250.0, 2026-08-21)");
    // 2.243.0 has two automatic migrations in the real file.
    expect(text.stderr).toMatch(/2 migration\(s\) in 1 release\(s\)/);
    const json = JSON.parse((await synup(['plan', '--from', '2.240.0', '--to', '2.250.0', '--json'], { env })).stdout);
    expect(json).toMatchObject({ changelog: "built-in snapshot of Synapse's CHANGELOG.rst", changelogNewest: { version: '2.250.0', date: '2026-08-21' } });
    const md = await synup(['plan', '--from', '2.240.0', '--to', '2.250.0', '--format', 'md'], { env });
    expect(md.stdout).toContain("- Changelog: built-in snapshot of Synapse's CHANGELOG.rst (newest entry 2.250.0, 2026-08-21)");
    const html = await synup(['plan', '--from', '2.240.0', '--to', '2.250.0', '--format', 'html'], { env });
    expect(html.stdout).toMatch(/Changelog: built-in snapshot of Synapse(&#39;|')s CHANGELOG.rst \(newest entry 2.250.0, 2026-08-21\)/);
  });

  it('refuses a --to newer than the snapshot, naming `synup changelog update` and --changelog, writing nothing', async () => {
    const state = tempDir();
    const { exitCode, stderr, stdout } = await synup(['plan', '--from', '2.240.0', '--to', NEXT], { env: { XDG_STATE_HOME: state } });
    expect(exitCode).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`--to ${NEXT} is newer than the built-in snapshot of Synapse's CHANGELOG.rst, whose newest entry is 2.250.0 (2026-08-21)`);
    expect(stderr).toContain(`synup changelog update --to ${NEXT}`);
    expect(stderr).toContain('--changelog');
    expect(readdirSync(state)).toEqual([]);
  });
});

describe('synup changelog update (loopback HTTPS)', () => {
  let server: Server;
  let baseUrl: string;
  let caFile: string;
  const served: string[] = [];
  // Not tempDir(): that is removed after each test, and the certificate serves them all.
  const tlsDir = mkdtempSync(path.join(os.tmpdir(), 'synup-tls-'));

  beforeAll(async () => {
    const { cert, key } = await ensureCert(tlsDir);
    caFile = cert;
    const routes: Record<string, string> = {
      [`/vertexproject/synapse/v${NEXT}/CHANGELOG.rst`]: next,
      // A tag whose file does not have that release as its newest entry (e.g. a wrong tag or base URL).
      '/vertexproject/synapse/v2.252.0/CHANGELOG.rst': next,
      '/vertexproject/synapse/v2.253.0/CHANGELOG.rst': 'not a changelog\n',
    };
    server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (req, res) => {
      served.push(req.url ?? '');
      const body = routes[req.url ?? ''];
      res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(body ?? 'Not Found');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/vertexproject/synapse`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(tlsDir, { recursive: true, force: true });
  });

  const run = (args: string[], state: string) => synup(args, { env: { XDG_STATE_HOME: state, NODE_EXTRA_CA_CERTS: caFile, SYNUP_CHANGELOG_BASE_URL: baseUrl } });

  it('fetches the tag-pinned CHANGELOG.rst into the state dir; plans then use it by default', async () => {
    const state = tempDir();
    const update = await run(['changelog', 'update', '--to', NEXT, '--json'], state);
    expect(update.exitCode).toBe(0);
    const file = path.join(state, 'synup', 'changelogs', `synapse-CHANGELOG-v${NEXT}.rst`);
    expect(JSON.parse(update.stdout)).toMatchObject({ url: `${baseUrl}/v${NEXT}/CHANGELOG.rst`, file, newest: { version: NEXT, date: '2026-09-01' } });
    expect(readFileSync(file, 'utf8')).toBe(next);
    expect(served).toContain(`/vertexproject/synapse/v${NEXT}/CHANGELOG.rst`);

    const plan = JSON.parse((await run(['plan', '--from', '2.250.0', '--to', NEXT, '--json'], state)).stdout);
    expect(plan).toMatchObject({ to: NEXT, changelog: `Synapse's CHANGELOG.rst fetched at v${NEXT} (${file})`, changelogNewest: { version: NEXT } });
    expect(plan.migrations.map((m: { text: string }) => m.text)).toEqual(['Migrated the test index to a new layout.']);
    // Older targets keep working from the newer copy.
    expect((await run(['plan', '--from', '2.240.0', '--to', '2.250.0'], state)).exitCode).toBe(0);
  });

  it('--base-url overrides the environment', async () => {
    const state = tempDir();
    const { exitCode, stderr } = await synup(['changelog', 'update', '--to', NEXT, '--base-url', `${baseUrl}/`], { env: { XDG_STATE_HOME: state, NODE_EXTRA_CA_CERTS: caFile } });
    expect(exitCode).toBe(0);
    expect(stderr).toContain(`Fetched ${baseUrl}/v${NEXT}/CHANGELOG.rst: `);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['a tag that is not there', ['--to', '2.260.0'], 1, /^synup: cannot fetch changelog https:\/\/127\.0\.0\.1:\d+\/vertexproject\/synapse\/v2\.260\.0\/CHANGELOG\.rst: HTTP 404 Not Found$/m],
    ['a file whose newest entry is another release', ['--to', '2.252.0'], 1, /^synup: https:\S+\/v2\.252\.0\/CHANGELOG\.rst is not the changelog of Synapse 2\.252\.0: its newest entry is 2\.251\.0$/m],
    ['a file that is no changelog', ['--to', '2.253.0'], 2, /^synup: changelog https:\S+ has no releases/m],
    ['a version that is none', ['--to', 'latest'], 2, /^synup: --to: "latest" is not a version; expected MAJOR\.MINOR\.PATCH/m],
    ['a base URL that is not http(s)', ['--to', NEXT, '--base-url', 'file:///etc'], 2, /^synup: --base-url "file:\/\/\/etc" is not an http\(s\) URL$/m],
  ];
  it.each(failures)('refuses %s with a one-line error and writes nothing', async (_name, args, code, message) => {
    const state = tempDir();
    const { exitCode, stderr } = await run(['changelog', 'update', ...args], state);
    expect(exitCode).toBe(code);
    expect(stderr).toMatch(message);
    expect(existsSync(path.join(state, 'synup', 'changelogs')) ? readdirSync(path.join(state, 'synup', 'changelogs')) : []).toEqual([]);
  });
});
