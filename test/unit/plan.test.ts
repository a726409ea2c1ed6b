import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChangelog } from '../../src/changelog/index.js';
import { loadConfig } from '../../src/config/load.js';
import { buildPlan, renderPlanHtml, renderPlanMarkdown, renderPlanText, type PlanDocument, type UpgradePlan } from '../../src/plan/index.js';
import { adapterPlanText } from '../../src/service/index.js';
import { describeSteps, STEPS } from '../../src/runner/steps/index.js';
import { repoRoot, realChangelog, serveChangelog, synupInProcess, tempDir } from '../support/helpers.js';
import { createSimCell } from '../sim/index.js';

const fixture = path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.rst');
const fixtureMd = path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.md');
const simChangelog = path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst');
const listing = (dir: string) => readdirSync(dir, { recursive: true }).map(String).sort();
/** The plan as `synup plan` renders it: the steps described for it, in the configured adapter's words if any. */
const documentOf = (plan: UpgradePlan): PlanDocument => ({ ...plan, steps: describeSteps(plan, plan.settings ? adapterPlanText(plan.settings.adapter) : null) });
const STEP_NAMES = ['preflight', 'backup-gate', 'probes-off', 'stop', 'cold-defrag', 'start', 'wait-migrations', 'confirm', 'probes-on', 'finish'];

describe('buildPlan and the renderers', () => {
  const changelog = parseChangelog(readFileSync(fixture, 'utf8'), { source: fixture });

  it('lists releases and migrations in (from, to], warnings first, and the ten steps in DESIGN.md order', () => {
    const plan = buildPlan({ changelog, from: 'v2.2.0', to: '2.5.0' });
    expect(plan).toMatchObject({ from: '2.2.0', to: '2.5.0', dir: null, settings: null, probesMustBeDisabled: true, releasesWithMigrations: 2 });
    expect(plan.releases).toEqual([
      { version: '2.3.0', date: '2024-02-25', migrations: 1 },
      { version: '2.4.0', date: '2024-02-19', migrations: 0 },
      { version: '2.4.1', date: '2024-02-20', migrations: 0 },
      { version: '2.5.0', date: '2024-03-01', migrations: 2 },
    ]);
    expect(plan.migrations.map((m) => [m.version, m.warning])).toEqual([['2.3.0', false], ['2.5.0', true], ['2.5.0', false]]);
    expect(plan.warnings).toEqual([expect.stringMatching(/^2\.5\.0: WARNING - It is strongly advised to perform a backup/)]);
    const { steps } = documentOf(plan);
    expect(steps.map((s) => s.name)).toEqual(STEP_NAMES);
    // The online defrag's two steps belong only to a plan that chose it.
    expect(STEPS.map((s) => s.name)).toEqual(['preflight', 'backup-gate', 'shadow', 'probes-off', 'stop', 'shadow-swap', 'cold-defrag', 'start', 'wait-migrations', 'confirm', 'probes-on', 'finish']);
    expect(steps.map((s) => s.title)).toEqual(STEPS.filter((s) => STEP_NAMES.includes(s.name)).map((s) => s.title));
    const online = documentOf({ ...plan, defrag: { mode: 'online', requested: 'online', reason: 'upgrade.defrag is online', follows: 'tcp://127.0.0.1:27492/' } });
    expect(online.steps.map((s) => s.name)).toEqual(STEPS.map((s) => s.name));
    expect(steps.every((s) => s.description.length > 20)).toBe(true);
  });

  it('says when nothing migrates, and notes releases that announce a migration only in prose', () => {
    const quiet = buildPlan({ changelog, from: '2.3.0', to: '2.4.1' });
    expect(quiet).toMatchObject({ migrations: [], warnings: [], probesMustBeDisabled: false });
    expect(renderPlanText(documentOf(quiet))).toContain('No automatic migrations between these versions.');
    const prose = buildPlan({ changelog, from: '2.0.0', to: '2.2.0' });
    expect(prose.warnings).toEqual(['2.1.0 announces a migration only in prose: read its entry']);
  });

  it('names the cell dir and the configured adapter, deadlines and limits in the step descriptions', () => {
    const work = tempDir();
    // cell.dir set: Kubernetes with its data on a dir synup sees (data: local), so the host's defrag applies.
    writeFileSync(path.join(work, 'synup.yaml'), 'cell: {dir: /data/cortex00}\nbackup: {maxAge: 12h}\nservice: {adapter: kubernetes, stopTimeout: 45s, kubernetes: {name: cortex}}\nhealth: {port: 4555, startTimeout: 10m}\n');
    const { config } = loadConfig({ cwd: work, env: {} });
    const plan = buildPlan({ changelog, from: '2.2.0', to: '2.5.0', dir: '/data/cortex00', config });
    const step = (name: string) => documentOf(plan).steps.find((s) => s.name === name)!.description;
    expect(plan.dir).toBe('/data/cortex00');
    expect(plan.settings).toMatchObject({ adapter: 'kubernetes', backupMaxAgeMs: 12 * 3_600_000, activeUrl: 'https://127.0.0.1:4555/api/v1/active' });
    expect(step('preflight')).toContain('Lock the cell /data/cortex00');
    expect(step('backup-gate')).toContain('newer than 12h');
    expect(step('probes-off')).toMatch(/startupProbe and livenessProbe in the journal; they are never removed \(migrations make the first boot slow\)/);
    expect(step('stop')).toContain('0 replicas and wait until no pod of it is left (45s, then the pods are force-deleted)');
    expect(step('start')).toContain('image tag v2.5.0');
    expect(step('wait-migrations')).toMatch(/https:\/\/127\.0\.0\.1:4555\/api\/v1\/active.*10m fails and rolls back/);
  });

  it('renders a runbook whose changelog text cannot inject HTML or break out of links', () => {
    const hostile = parseChangelog(
      [
        '## v2.1.0 - 2024-01-01',
        '',
        '### Automatic Migrations',
        '',
        '- Migrate <script>alert(1)</script> | pipes *and* `code`. [#1](https://example.com/pull/1) [x](https://evil.example/a)<img src=x onerror=alert(2)>)',
        '',
        '## v2.0.0 - 2023-01-01',
        '',
        'Initial.',
        '',
      ].join('\n'),
      { source: 'hostile.md' },
    );
    const plan = buildPlan({ changelog: hostile, from: '2.0.0', to: '2.1.0' });
    const md = renderPlanMarkdown(documentOf(plan));
    expect(md).toContain('[#1](https://example.com/pull/1)');
    const html = renderPlanHtml(documentOf(plan));
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<img|onerror=alert\(2\)"/i);
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('<a href="https://example.com/pull/1">#1</a>');
  });
});

describe('synup plan', () => {
  it('prints the migrations of the real changelog as JSON with the documented shape', async () => {
    const { stdout, exitCode } = await synupInProcess(['plan', '--from', '2.176.0', '--to', '2.182.0', '--changelog', realChangelog, '--json']);
    expect(exitCode).toBe(0);
    const plan = JSON.parse(stdout);
    expect(plan).toMatchObject({ from: '2.176.0', to: '2.182.0', probesMustBeDisabled: true, warnings: [] });
    expect(plan.releases.map((r: { version: string }) => r.version)).toEqual(['2.177.0', '2.178.0', '2.179.0', '2.180.0', '2.180.1', '2.181.0', '2.182.0']);
    expect(Object.keys(plan.releases[0]).sort()).toEqual(['date', 'migrations', 'version']);
    expect([...new Set(plan.migrations.map((m: { version: string }) => m.version))]).toEqual(['2.177.0', '2.180.0', '2.181.0']);
    expect(Object.keys(plan.migrations[0]).sort()).toEqual(['date', 'links', 'source', 'text', 'version', 'warning']);
    expect(plan.steps.map((s: { name: string }) => s.name)).toEqual(STEP_NAMES);
    expect(Object.keys(plan.steps[0]).sort()).toEqual(['description', 'name', 'title']);
  });

  it('reads the real CHANGELOG.rst saved as .md as RST: the content decides, not the extension', async () => {
    const asMd = path.join(tempDir(), 'CHANGELOG.md');
    copyFileSync(realChangelog, asMd);
    const args = ['plan', '--from', '2.176.0', '--to', '2.182.0', '--json'];
    const rst = JSON.parse((await synupInProcess([...args, '--changelog', realChangelog])).stdout);
    const md = await synupInProcess([...args, '--changelog', asMd]);
    expect(md.exitCode, md.stderr).toBe(0);
    const plan = JSON.parse(md.stdout);
    expect(plan.migrations.length).toBeGreaterThan(0);
    expect(plan.migrations).toEqual(rst.migrations);
  });

  it('makes the 2.187.0 warning stand out in every format', async () => {
    const args = ['plan', '--from', '2.186.0', '--to', '2.190.0', '--changelog', realChangelog];
    const text = await synupInProcess(args);
    expect(text.stderr).toMatch(/^WARNING 2\.187\.0: WARNING - It is strongly advised to perform a backup/m);
    expect(text.stderr).toMatch(/\| 2\.187\.0 \| 2024-11-01 \| section \| yes +\| WARNING - It is strongly/);
    const md = await synupInProcess([...args, '--format', 'md']);
    expect(md.stdout).toMatch(/^> 2\.187\.0: \*\*WARNING\*\* - It is strongly advised/m);
    expect(md.stdout).toMatch(/^\| 2\.187\.0 \| 2024-11-01 \| section \| \*\*WARNING\*\* - It is strongly/m);
    const json = JSON.parse((await synupInProcess([...args, '--format', 'json'])).stdout);
    expect(json.warnings).toEqual([expect.stringMatching(/^2\.187\.0: WARNING/)]);
  });

  it('renders a table on stderr, a Markdown runbook with warnings first, and standalone HTML to a file', async () => {
    const text = await synupInProcess(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/\| Version \| Date +\| Source +\| Warning \| Migration/);
    expect(text.stderr).toMatch(/WARNING 2\.5\.0: WARNING - It is strongly advised/);
    expect(text.stderr).toMatch(/^ +1\. preflight +Lock the cell/m);
    const md = await synupInProcess(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'md']);
    expect(md.stdout.indexOf('## Warnings')).toBeLessThan(md.stdout.indexOf('## Migrations'));
    expect(md.stdout).toMatch(/^1\. \[ \] \*\*Preflight checks\*\*/m);
    expect(md.stdout).toMatch(/^10\. \[ \] \*\*Finish\*\* \(`finish`\)/m);
    const dir = tempDir();
    const html = await synupInProcess(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'html', '-o', 'runbook.html'], { cwd: dir });
    expect(html.exitCode).toBe(0);
    expect(html.stderr).toMatch(/Wrote html plan 2\.2\.0 → 2\.5\.0 to .*runbook\.html/);
    const page = readFileSync(path.join(dir, 'runbook.html'), 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<blockquote>');
    expect(page).toContain('@media print');
    expect(page).not.toMatch(/<script|<link |src="http/);
  });

  it('plans from a Markdown changelog the same way', async () => {
    const { stdout, exitCode } = await synupInProcess(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', fixtureMd, '--json']);
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout).migrations.map((m: { version: string }) => m.version)).toEqual(['2.3.0', '2.5.0', '2.5.0']);
  });

  it('fetches a changelog URL once and then works from the cache', async () => {
    const { url, hits } = await serveChangelog(readFileSync(fixture, 'utf8'));
    const state = tempDir();
    const env = { SYNUP_STATE_DIR: state };
    for (let i = 0; i < 2; i++) {
      const { exitCode, stdout } = await synupInProcess(['plan', '--from', '2.2.0', '--to', '2.5.0', '--changelog', url, '--json'], { env });
      expect(exitCode).toBe(0);
      expect(JSON.parse(stdout).migrations).toHaveLength(3);
    }
    expect(hits()).toBe(1);
    expect(readdirSync(path.join(state, 'changelogs'))).toHaveLength(1);
  });

  describe('reading the current version from the cell', () => {
    it('uses --dir (or cell.dir and changelog from synup.yaml) and checks --from against the data', async () => {
      const work = tempDir('synup-plan-cell-');
      const cellDir = path.join(work, 'cortex00');
      await createSimCell(cellDir, { version: '2.181.0' });
      const env = { SYNUP_STATE_DIR: path.join(work, 'state') };

      const byDir = await synupInProcess(['plan', '--dir', cellDir, '--to', '2.184.0', '--changelog', simChangelog, '--json'], { env });
      expect(byDir.exitCode).toBe(0);
      const plan = JSON.parse(byDir.stdout);
      expect(plan).toMatchObject({ from: '2.181.0', to: '2.184.0', dir: cellDir, estimate: { basis: 'data size', bootSeconds: null } });
      expect(plan.migrations.map((m: { version: string }) => m.version)).toEqual(['2.182.0', '2.183.0']);

      writeFileSync(path.join(work, 'synup.yaml'), `cell: {dir: ./cortex00}\nchangelog: ${JSON.stringify(simChangelog)}\n`);
      const byConfig = await synupInProcess(['plan', '--to', '2.183.0', '--json'], { cwd: work, env });
      expect(byConfig.exitCode).toBe(0);
      expect(JSON.parse(byConfig.stdout)).toMatchObject({ from: '2.181.0', to: '2.183.0', dir: cellDir });

      const before = listing(work);
      const mismatch = await synupInProcess(['plan', '--from', '2.180.0', '--dir', cellDir, '--to', '2.184.0', '--changelog', simChangelog], { env });
      expect(mismatch.exitCode).toBe(2);
      expect(mismatch.stderr.split('\n')[0]).toBe(`synup: --from 2.180.0 does not match ${cellDir}, whose data is at 2.181.0 (slabs/cell.lmdb cell:version)`);
      const downgrade = await synupInProcess(['plan', '--dir', cellDir, '--to', '2.180.0', '--changelog', simChangelog], { env });
      expect(downgrade.exitCode).toBe(3);
      expect(downgrade.stderr).toMatch(/refusing to downgrade from 2\.181\.0 to 2\.180\.0/);
      expect(listing(work)).toEqual(before);
    });

    it('refuses a --dir that is not a cell', async () => {
      const dir = tempDir();
      const result = await synupInProcess(['plan', '--dir', dir, '--to', '2.184.0', '--changelog', simChangelog]);
      expect(result.exitCode).toBe(3);
      expect(result.stderr).toMatch(/is not a Synapse cell dir: it has no cell\.guid/);
      expect(readdirSync(dir)).toEqual([]);
    });
  });

  describe('bad input: one-line reason, exit code, nothing written', () => {
    const cases: [string, string[], number, RegExp][] = [
      ['downgrade', ['--from', '2.5.0', '--to', '2.1.0', '--changelog', fixture], 3, /refusing to downgrade from 2\.5\.0 to 2\.1\.0: Synapse refuses to boot on data written by a newer version/],
      ['equal versions', ['--from', '2.3.0', '--to', '2.3.0', '--changelog', fixture], 2, /--from and --to are both 2\.3\.0: nothing to upgrade/],
      ['unknown version', ['--from', '2.3.5', '--to', '2.5.0', '--changelog', fixture], 2, /--from 2\.3\.5 is not a release .* nearest known: 2\.3\.0 and 2\.4\.0/],
      ['target beyond the changelog', ['--from', '2.3.0', '--to', '2.9.0', '--changelog', fixture], 2, /--to 2\.9\.0 is not a release .* nearest known: 2\.5\.0/],
      ['malformed version', ['--from', '2.x', '--to', '2.5.0', '--changelog', fixture], 2, /--from: "2\.x" is not a version; expected MAJOR\.MINOR\.PATCH/],
      ['missing --to', ['--from', '2.3.0', '--changelog', fixture], 2, /required option '--to <version>' not specified/],
      ['missing changelog file', ['--from', '2.3.0', '--to', '2.5.0', '--changelog', 'nope.rst'], 2, /cannot read changelog .*nope\.rst: ENOENT/],
      ['--to newer than the built-in changelog', ['--from', '2.3.0', '--to', '9.0.0'], 2, /--to 9\.0\.0 is newer than the built-in snapshot of Synapse's CHANGELOG\.rst/],
      ['no from and no dir', ['--to', '2.5.0', '--changelog', fixture], 2, /no current version: pass --from <version>, or --dir <cell dir>/],
      ['unknown format', ['--from', '2.3.0', '--to', '2.5.0', '--changelog', fixture, '--format', 'pdf'], 2, /argument 'pdf' is invalid/],
      ['output into a missing dir', ['--from', '2.3.0', '--to', '2.5.0', '--changelog', fixture, '-o', 'no/such/dir/plan.md'], 2, /-o .*plan\.md: the dir .*no\/such\/dir does not exist/],
    ];
    it.each(cases)('%s', async (_name, args, code, message) => {
      const dir = tempDir();
      writeFileSync(path.join(dir, 'keep.txt'), 'x');
      const before = listing(dir);
      const result = await synupInProcess(['plan', ...args], { cwd: dir, env: { SYNUP_STATE_DIR: path.join(dir, 'state') } });
      expect(result.exitCode).toBe(code);
      expect(result.stderr.split('\n')[0]).toMatch(message);
      expect(result.stdout).toBe('');
      expect(listing(dir)).toEqual(before);
    });

    it('says how to get a newer changelog when --to is past the built-in one', async () => {
      const result = await synupInProcess(['plan', '--from', '2.3.0', '--to', '9.0.0'], { cwd: tempDir(), env: { XDG_STATE_HOME: tempDir() } });
      expect(result.stderr).toBe(
        "synup: --to 9.0.0 is newer than the built-in snapshot of Synapse's CHANGELOG.rst, whose newest entry is 2.250.0 (2026-08-21)\n" +
          '  fix: fetch the changelog of that release with `synup changelog update --to 9.0.0`, or pass one with --changelog <CHANGELOG.rst|url>',
      );
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
      const result = await synupInProcess(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', 'CHANGELOG.rst'], { cwd: dir });
      expect(result.exitCode).toBe(2);
      expect(result.stderr.split('\n')[0]).toMatch(message);
      expect(listing(dir)).toEqual(before);
    });

    it('an unreachable URL (a loopback port nobody listens on)', async () => {
      const { url, close } = await serveChangelog('');
      await close();
      const state = tempDir();
      const result = await synupInProcess(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', url], { env: { SYNUP_STATE_DIR: state } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr.split('\n')[0]).toMatch(/^synup: cannot fetch changelog http:\/\/127\.0\.0\.1:\d+\/CHANGELOG\.rst: ECONNREFUSED$/);
      expect(readdirSync(state)).toEqual([]);
    });

    it('a port fetch refuses to use says so (undici only says "fetch failed")', async () => {
      const state = tempDir();
      const result = await synupInProcess(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', 'http://127.0.0.1:1/CHANGELOG.rst'], { env: { SYNUP_STATE_DIR: state } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr.split('\n')[0]).toBe('synup: cannot fetch changelog http://127.0.0.1:1/CHANGELOG.rst: bad port');
      expect(readdirSync(state)).toEqual([]);
    });

    it('an HTTP error', async () => {
      const { url } = await serveChangelog('gone', 404);
      const state = tempDir();
      const result = await synupInProcess(['plan', '--from', '2.0.0', '--to', '2.5.0', '--changelog', url], { env: { SYNUP_STATE_DIR: state } });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/HTTP 404/);
      expect(readdirSync(state)).toEqual([]);
    });

    it('reports the error as one JSON document with --json', async () => {
      const result = await synupInProcess(['plan', '--from', '2.5.0', '--to', '2.1.0', '--changelog', fixture, '--json']);
      expect(result.exitCode).toBe(3);
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'refused', message: expect.stringMatching(/refusing to downgrade/) } });
    });
  });
});
