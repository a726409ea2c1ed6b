import { existsSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadChangelog, parseChangelog, selectReleases, type Changelog } from '../../src/changelog/index.js';
import { SynupError } from '../../src/errors.js';
import { realChangelog, repoRoot, serveChangelog, tempDir } from '../support/helpers.js';

const realText = readFileSync(realChangelog, 'utf8');
const real = parseChangelog(realText, { source: 'CHANGELOG.rst' });
const release = (changelog: Changelog, version: string) => changelog.releases.find((r) => r.version === version)!;
/** The migrations in (from, to], as a plan lists them. */
const selectMigrations = (changelog: Changelog, from: string, to: string) => selectReleases(changelog, from, to).flatMap((r) => r.migrations);
const versionsOf = (from: string, to: string) => [...new Set(selectMigrations(real, from, to).map((m) => m.version))];

/** The exit-code name and message a call fails with, or null. */
function failure(fn: () => unknown): [string, string] | null {
  try {
    fn();
  } catch (error) {
    return [(error as SynupError).code, (error as Error).message];
  }
  return null;
}

describe('the real Synapse CHANGELOG.rst', () => {
  it('has 311 releases, 40 of them with an Automatic Migrations section, ordered by semver', () => {
    expect(real.releases).toHaveLength(311);
    expect(real.releases.filter((r) => r.sections.some((s) => /automatic migrations/i.test(s.title)))).toHaveLength(40);
    expect(real.releases.filter((r) => r.migrations.some((m) => m.source === 'section'))).toHaveLength(40);
    expect(real.releases[0]!.version).toBe('2.0.0');
    expect(real.releases.at(-1)!.version).toBe('2.250.0');
  });

  // Each range was read off the file by hand: `grep -n '^v2\.\|^Automatic Migrations' CHANGELOG.rst`, plus the
  // prose of the releases before 2.78.0.
  it.each([
    ['2.176.0', '2.182.0', ['2.177.0', '2.180.0', '2.181.0']],
    ['2.239.0', '2.250.0', ['2.240.0', '2.243.0']],
    ['2.182.0', '2.186.0', []],
    ['2.186.0', '2.187.0', ['2.187.0']],
    ['2.187.0', '2.200.0', ['2.195.0', '2.196.0', '2.198.0']],
    ['2.160.0', '2.170.0', ['2.165.0', '2.167.0', '2.170.0']],
    ['2.100.0', '2.105.0', ['2.101.0', '2.104.0']],
    ['2.77.0', '2.78.0', ['2.78.0']],
    ['2.70.0', '2.80.0', ['2.75.0', '2.78.0']],
    ['2.40.0', '2.45.0', ['2.41.0', '2.44.0']],
    ['2.8.0', '2.10.0', ['2.9.0']],
  ])('%s → %s crosses migrations in exactly %j (checked by hand against the file)', (from, to, expected) => {
    expect(versionsOf(from, to)).toEqual(expected);
  });

  it('counts every migration bullet of a section, one per bullet, in file order (2.174.0 has three)', () => {
    expect(selectMigrations(real, '2.173.1', '2.174.0').map((m) => m.links)).toEqual([
      ['https://github.com/vertexproject/synapse/pull/3701'],
      ['https://github.com/vertexproject/synapse/pull/3790'],
      ['https://github.com/vertexproject/synapse/pull/3760'],
    ]);
    expect(selectMigrations(real, '2.176.0', '2.177.0')).toEqual([
      expect.objectContaining({ version: '2.177.0', date: '2024-08-01', source: 'section', links: ['https://github.com/vertexproject/synapse/pull/3698', 'https://github.com/vertexproject/synapse/pull/3825'] }),
    ]);
    expect(selectMigrations(real, '2.0.0', '2.250.0')).toHaveLength(real.releases.reduce((n, r) => n + r.migrations.length, 0));
  });

  it('marks the 2.187.0 backup warning, keeps its paragraphs and PR link, drops the datamigration boilerplate', () => {
    const [cpe, ...rest] = selectMigrations(real, '2.186.0', '2.187.0');
    expect(rest).toEqual([]);
    expect(cpe).toMatchObject({ version: '2.187.0', date: '2024-11-01', warning: true, source: 'section', links: ['https://github.com/vertexproject/synapse/pull/3918'] });
    expect(cpe!.text).toMatch(/^WARNING - It is strongly advised to perform a backup/);
    expect(cpe!.text).toContain('The structure of items in this queue is opaque.');
    expect(cpe!.text).toContain('(model_0_2_31:nodes)');
    expect(cpe!.text).not.toContain('``');
    expect(real.releases.flatMap((r) => r.migrations).filter((m) => /^see datamigration/i.test(m.text))).toEqual([]);
  });

  it('keeps a migration bullet that merely mentions the datamigration reference (2.78.0)', () => {
    const [m] = selectMigrations(real, '2.77.0', '2.78.0');
    expect(m!.text).toMatch(/^Migrate Cortex nodes which may have been skipped/);
    expect(m!.text).toContain('See datamigration for more information');
  });

  it('finds migrations announced only in prose before 2.78.0, and flags the ones asking for a tested backup', () => {
    const prose = real.releases.filter((r) => r.migrations.some((m) => m.source === 'prose'));
    expect(prose.map((r) => [r.version, r.migrations.length])).toEqual([['2.9.0', 1], ['2.29.0', 2], ['2.41.0', 1], ['2.44.0', 1], ['2.53.0', 1], ['2.75.0', 1]]);
    expect(release(real, '2.75.0').migrations[0]!.text).toMatch(/startup or liveliness probes/);
    expect(release(real, '2.9.0').migrations[0]!.text).toMatch(/^The v2\.9\.0 Synapse release contains an automatic Cortex Layer data migration/);
    expect(prose.filter((r) => r.migrations.some((m) => m.warning)).map((r) => r.version)).toEqual(['2.44.0', '2.53.0', '2.75.0']);
    expect(release(real, '2.29.0').migrations[1]).toMatchObject({ source: 'prose', links: ['https://github.com/vertexproject/synapse/pull/2104', 'https://github.com/vertexproject/synapse/pull/2106'] });
  });

  it('orders by version although dates are not monotonic, and keeps the replaced 2.173.0 as prose only', () => {
    expect(release(real, '2.180.1').date! < release(real, '2.181.0').date!).toBe(true);
    expect(release(real, '2.173.0')).toMatchObject({ sections: [], migrations: [], prose: ['This release was replaced with v2.173.1.'] });
  });

  it('ends 2.0.0 at the "API Deprecation Notice" block, which is not a release', () => {
    expect(release(real, '2.0.0')).toMatchObject({ date: '2020-06-08', sections: [], prose: ['Initial 2.0.0 release.'] });
    expect(real.releases.some((r) => r.sections.some((s) => s.title === 'Cortex Telepath APIs'))).toBe(false);
  });

  it('reads inline markup as RST does: literals across lines, `::` literal blocks, :ref: labels, several links', () => {
    const bullets = (version: string) => release(real, version).sections.flatMap((s) => s.bullets);
    expect(bullets('2.203.0').find((b) => b.text.startsWith('Added a default name'))!.text).toContain('inserted fork of {oldparent.name} or inserted fork of {oldparent.iden} if');
    const genpkg = bullets('2.83.0').find((b) => b.text.includes('synapse.tools.genpkg'))!;
    expect(genpkg.text).toMatch(/Storm package definition\. \(#2555\) genopts: dotstorm: true$/);
    expect(bullets('2.110.0').find((b) => b.text.includes('runtime string formatting'))!.text).toContain("$lib.print(`hello {$world}`)");
    expect(bullets('2.187.0').find((b) => b.text.includes('userguide_model_v2_187_0'))!.text).toBe('See userguide_model_v2_187_0 for more detailed model changes.');
    // Only two bullets keep a ``: their source has an unbalanced literal (``:success` in 2.57.0, ``aha` in 2.203.0).
    const withTicks = real.releases.filter((r) => r.sections.some((s) => s.bullets.some((b) => b.text.includes('``'))));
    expect(withTicks.map((r) => r.version)).toEqual(['2.57.0', '2.203.0']);
    const links = real.releases.flatMap((r) => r.sections.flatMap((s) => s.bullets.flatMap((b) => b.links)));
    expect(links.length).toBeGreaterThan(2400);
    expect(links.every((l) => /^https:\/\/\S+[^>`_]$/.test(l))).toBe(true);
  });

  it('reads only the bodies a caller touches, and the deferred fields behave as plain data', () => {
    const changelog = parseChangelog(realText);
    const r = release(changelog, '2.187.0');
    const plain = JSON.parse(JSON.stringify(r));
    expect(Object.keys(r)).toEqual(['version', 'date', 'sections', 'prose', 'migrations']);
    expect({ ...r }).toEqual(plain);
    expect(structuredClone(r)).toEqual(plain);
    expect(r.migrations).toBe(r.migrations);
  });

  it('parses the same with CRLF line ends and a byte-order mark', () => {
    const crlf = parseChangelog('\ufeff' + realText.replace(/\n/g, '\r\n'));
    expect(crlf.releases).toHaveLength(311);
    expect(JSON.stringify(release(crlf, '2.187.0'))).toBe(JSON.stringify(release(real, '2.187.0')));
  });
});

describe('fixture changelogs', () => {
  const rst = parseChangelog(readFileSync(path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.rst'), 'utf8'));
  const md = parseChangelog(readFileSync(path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.md'), 'utf8'));

  it('parses RST: sections, nested bullets, literal blocks, several links, "Automated" titles, the non-release notice', () => {
    expect(rst.format).toBe('rst');
    expect(rst.releases.map((r) => r.version)).toEqual(['2.0.0', '2.1.0', '2.2.0', '2.3.0', '2.4.0', '2.4.1', '2.5.0']);
    const features = release(rst, '2.5.0').sections.find((s) => s.title === 'Features and Enhancements')!;
    expect(features.bullets.map((b) => b.text)).toEqual([
      'Added a :: literal example: $lib.print(hello) with text after it. (#13)',
      'A bullet with nested items: - first nested - second nested',
      'A literal spanning two lines, a default-role word, a label and an anonymous link.',
    ]);
    expect(features.bullets[2]!.links).toEqual(['https://example.com/docs']);
    expect(release(rst, '2.5.0').migrations.map((m) => m.warning)).toEqual([true, false]);
    expect(release(rst, '2.5.0').migrations[0]!.links).toEqual(['https://github.com/vertexproject/synapse/pull/10', 'https://github.com/vertexproject/synapse/pull/11']);
    expect(release(rst, '2.3.0').migrations[0]!.text).toBe('Migrate storage-layers to a new index. (#8)');
    expect(release(rst, '2.1.0').migrations).toEqual([expect.objectContaining({ source: 'prose', warning: false })]);
    expect(release(rst, '2.2.0').prose).toEqual([]);
    expect(release(rst, '2.4.0')).toMatchObject({ sections: [], prose: ['This release was replaced with v2.4.1.'] });
  });

  it('parses Markdown with the same model (marked lexer): lists, nested lists, code, http(s) links only', () => {
    expect(md.format).toBe('md');
    expect(md.releases.map((r) => r.version)).toEqual(['2.0.0', '2.3.0', '2.4.0', '2.5.0']);
    expect(selectMigrations(md, '2.0.0', '2.5.0').map((m) => [m.version, m.warning])).toEqual([
      ['2.3.0', false],
      ['2.5.0', true],
      ['2.5.0', false],
    ]);
    expect(release(md, '2.5.0').migrations[0]!.links).toHaveLength(2);
    expect(release(md, '2.5.0').migrations[1]!.text).toBe('Renormalize ou:position:title values. (#12)');
    const features = release(md, '2.5.0').sections[1]!.bullets;
    expect(features[0]).toEqual({ text: 'Added something with bold, code and a docs link. - nested one - nested two', links: ['https://example.com/docs'] });
    expect(features[1]).toEqual({ text: 'A link that is not http(s) is not kept: click.', links: [] });
    expect(release(md, '2.0.0').prose).toEqual(['Initial release.']);
  });

  it('takes the format from the content; the option (a file extension) cannot override it', () => {
    const text = '## v2.3.0 - 2024-01-02\n\n### Automatic Migrations\n\n- Migrate a thing.\n';
    expect(parseChangelog(text).format).toBe('md');
    expect(parseChangelog(text, { format: 'rst', source: 'x.rst' })).toMatchObject({ format: 'md', releases: [{ version: '2.3.0' }] });
  });

  it.each([
    ['empty', '   \n', /is empty/],
    ['binary', 'v2.0.0 - 2024-01-01\n====\n\u0000\u0001', /is binary/],
    ['not UTF-8', 'v2.0.0 - 2024-01-01\n====\n\ufffd\n', /is binary/],
    ['without releases', 'Just some text\nabout nothing\n', /has no releases/],
    ['only a non-release block', 'API Deprecation Notice - 2023-10-01\n===================================\n\n- x\n', /has no releases/],
    ['truncated', 'v2.0.0 - 2024-01-01\n===================\n\n- cut in the mid', /appears truncated/],
  ])('refuses a changelog that is %s with a usage error', (_name, text, message) => {
    expect(failure(() => parseChangelog(text, { source: 'x' }))).toEqual(['usage', expect.stringMatching(message)]);
  });

  it('refuses bad version ranges with the right codes, a downgrade before an unknown version', () => {
    expect(failure(() => selectReleases(rst, '2.5.0', '2.1.0'))).toEqual(['refused', expect.stringMatching(/refusing to downgrade from 2\.5\.0 to 2\.1\.0/)]);
    expect(failure(() => selectReleases(rst, '2.5.0', '2.0.7'))).toEqual(['refused', expect.stringMatching(/refusing to downgrade/)]);
    expect(failure(() => selectReleases(rst, '2.3.0', 'v2.3.0'))).toEqual(['usage', expect.stringMatching(/both 2\.3\.0: nothing to upgrade/)]);
    expect(failure(() => selectReleases(rst, '2.3.7', '2.5.0'))).toEqual(['usage', expect.stringMatching(/--from 2\.3\.7 is not a release .*nearest known: 2\.3\.0 and 2\.4\.0/)]);
    expect(failure(() => selectReleases(rst, '2.0.0', '3.0.0'))).toEqual(['usage', expect.stringMatching(/--to 3\.0\.0 .*nearest known: 2\.5\.0$/)]);
    expect(failure(() => selectReleases(rst, 'two', '2.5.0'))).toEqual(['usage', expect.stringMatching(/"two" is not a version/)]);
    expect(failure(() => selectReleases(rst, '2.3', '2.5.0'))).toEqual(['usage', expect.stringMatching(/"2\.3" is not a version/)]);
    expect(selectReleases(rst, 'v2.3.0', '2.5.0').map((r) => r.version)).toEqual(['2.4.0', '2.4.1', '2.5.0']);
  });
});

describe('loadChangelog', () => {
  const fixture = path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.rst');

  const loadFailure = async (spec: string, cacheDir: string): Promise<[string, string] | null> => {
    try {
      await loadChangelog(spec, { cacheDir, cwd: repoRoot });
      return null;
    } catch (error) {
      return [(error as SynupError).code, (error as Error).message];
    }
  };

  it('reads a file relative to cwd, naming it as the source', async () => {
    const changelog = await loadChangelog('changelogs/fixture-CHANGELOG.md', { cacheDir: tempDir(), cwd: repoRoot });
    expect(changelog).toMatchObject({ format: 'md', source: path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.md') });
  });

  it('fetches a URL once from a loopback server, then reads the cached copy', async () => {
    const { url, hits } = await serveChangelog(readFileSync(fixture));
    const cacheDir = path.join(tempDir(), 'state', 'changelogs');
    const first = await loadChangelog(url, { cacheDir });
    const second = await loadChangelog(url, { cacheDir });
    expect(hits()).toBe(1);
    expect(second.source).toBe(url);
    expect(second.cachedFile).toBe(first.cachedFile);
    expect(readdirSync(cacheDir)).toEqual([path.basename(first.cachedFile!)]);
    expect(second.releases.map((r) => r.version)).toEqual(first.releases.map((r) => r.version));
    expect(failure(() => selectReleases(second, '2.0.0', '2.6.0'))![1]).toMatch(/--to 2\.6\.0 is not a release/);
    try {
      selectReleases(second, '2.0.0', '2.6.0');
    } catch (error) {
      expect((error as SynupError).hint).toContain(`delete ${first.cachedFile} to fetch it again`);
    }
  });

  it('does not cache what it could not parse', async () => {
    const { url } = await serveChangelog('<html>not a changelog</html>\n');
    const cacheDir = path.join(tempDir(), 'changelogs');
    expect(await loadFailure(url, cacheDir)).toEqual(['usage', expect.stringMatching(/is an HTML page, not a changelog file/)]);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it.each([
    ['an unreachable loopback port', async () => {
      const { url, close } = await serveChangelog('');
      await close();
      return url;
    }, /cannot fetch changelog http:\/\/127\.0\.0\.1:\d+\/CHANGELOG\.rst: ECONNREFUSED/],
    ['an HTTP error', async () => (await serveChangelog('gone', 404)).url, /cannot fetch changelog .*: HTTP 404 Not Found/],
  ])('fails clearly on %s (exit 1) and caches nothing', async (_name, urlOf, message) => {
    const cacheDir = path.join(tempDir(), 'changelogs');
    expect(await loadFailure(await urlOf(), cacheDir)).toEqual(['failed', expect.stringMatching(message)]);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('refuses a missing file, a directory and a file far too big to be a changelog (usage)', async () => {
    const dir = tempDir();
    const huge = path.join(dir, 'huge.rst');
    writeFileSync(huge, '');
    truncateSync(huge, 64 * 2 ** 20);
    expect(await loadFailure(path.join(dir, 'missing.rst'), dir)).toEqual(['usage', expect.stringMatching(/cannot read changelog .*missing\.rst: ENOENT/)]);
    expect(await loadFailure(dir, dir)).toEqual(['usage', expect.stringMatching(/changelog .* is a directory, not a regular file/)]);
    expect(await loadFailure(huge, dir)).toEqual(['usage', expect.stringMatching(/huge\.rst is over 32 MiB: too big for a changelog/)]);
  });
});
