import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChangelog, selectMigrations, selectReleases } from '../src/changelog/index.js';
import { SynupError } from '../src/errors.js';
import { repoRoot, sharedChangelog } from './helpers.js';

const hasShared = existsSync(sharedChangelog);
if (!hasShared) console.warn(`skipping real-changelog tests: ${sharedChangelog} is absent (../shared not beside the repo)`);
const real = hasShared ? parseChangelog(readFileSync(sharedChangelog, 'utf8'), { source: 'CHANGELOG.rst' }) : null;
const versionsOf = (from: string, to: string) => [...new Set(selectMigrations(real!, from, to).map((m) => m.version))];

describe.skipIf(!hasShared)('the real Synapse CHANGELOG.rst', () => {
  it('has 311 releases, 40 of them with an Automatic Migrations section, ordered by semver', () => {
    expect(real!.releases).toHaveLength(311);
    expect(real!.releases.filter((r) => r.sections.some((s) => /automatic migrations/i.test(s.title)))).toHaveLength(40);
    expect(real!.releases[0]!.version).toBe('2.0.0');
    expect(real!.releases.at(-1)!.version).toBe('2.250.0');
  });

  it.each([
    ['2.176.0', '2.182.0', ['2.177.0', '2.180.0', '2.181.0']],
    ['2.239.0', '2.250.0', ['2.240.0', '2.243.0']],
    ['2.182.0', '2.186.0', []],
    ['2.186.0', '2.187.0', ['2.187.0']],
    ['2.77.0', '2.78.0', ['2.78.0']],
    ['2.40.0', '2.45.0', ['2.41.0', '2.44.0']],
  ])('%s → %s crosses migrations in exactly %j (checked by hand against the file)', (from, to, expected) => {
    expect(versionsOf(from, to)).toEqual(expected);
  });

  it('marks the 2.187.0 backup warning, keeps its paragraphs and PR link, drops the datamigration boilerplate', () => {
    const [cpe, ...rest] = selectMigrations(real!, '2.186.0', '2.187.0');
    expect(rest).toEqual([]);
    expect(cpe).toMatchObject({ version: '2.187.0', date: '2024-11-01', warning: true, source: 'section', links: ['https://github.com/vertexproject/synapse/pull/3918'] });
    expect(cpe!.text).toMatch(/^WARNING - It is strongly advised to perform a backup/);
    expect(cpe!.text).toContain('The structure of items in this queue is opaque.');
    expect(cpe!.text).toContain('it:sec:cpe');
    expect(cpe!.text).not.toContain('``');
  });

  it('keeps a migration bullet that merely mentions the datamigration reference (2.78.0)', () => {
    const [m] = selectMigrations(real!, '2.77.0', '2.78.0');
    expect(m!.text).toMatch(/^Migrate Cortex nodes which may have been skipped/);
    expect(m!.text).toContain('See datamigration for more information');
  });

  it('finds migrations announced only in prose before 2.78.0', () => {
    const prose = real!.releases.filter((r) => r.migrations.some((m) => m.source === 'prose')).map((r) => r.version);
    expect(prose).toEqual(['2.9.0', '2.29.0', '2.41.0', '2.44.0', '2.53.0', '2.75.0']);
    expect(real!.releases.find((r) => r.version === '2.75.0')!.migrations[0]!.text).toMatch(/startup or liveliness probes/);
  });

  it('orders by version although dates are not monotonic, and keeps the replaced 2.173.0 as prose only', () => {
    const r181 = real!.releases.find((r) => r.version === '2.181.0')!;
    const r180_1 = real!.releases.find((r) => r.version === '2.180.1')!;
    expect(r180_1.date! < r181.date!).toBe(true);
    const replaced = real!.releases.find((r) => r.version === '2.173.0')!;
    expect(replaced).toMatchObject({ sections: [], migrations: [], prose: ['This release was replaced with v2.173.1.'] });
    expect(real!.releases.some((r) => /deprecation/i.test(r.version))).toBe(false);
  });
});

describe('fixture changelogs', () => {
  const rst = parseChangelog(readFileSync(path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.rst'), 'utf8'));
  const md = parseChangelog(readFileSync(path.join(repoRoot, 'changelogs', 'fixture-CHANGELOG.md'), 'utf8'));

  it('parses RST: sections, nested bullets, literal blocks, several links, "Automated" titles, the non-release notice', () => {
    expect(rst.format).toBe('rst');
    expect(rst.releases.map((r) => r.version)).toEqual(['2.0.0', '2.1.0', '2.2.0', '2.3.0', '2.4.0', '2.4.1', '2.5.0']);
    const v250 = rst.releases.at(-1)!;
    const features = v250.sections.find((s) => s.title === 'Features and Enhancements')!;
    expect(features.bullets[0]!.text).toContain('$lib.print(hello)');
    expect(features.bullets[1]!.text).toBe('A bullet with nested items: - first nested - second nested');
    expect(v250.migrations.map((m) => m.warning)).toEqual([true, false]);
    expect(v250.migrations[0]!.links).toEqual(['https://github.com/vertexproject/synapse/pull/10', 'https://github.com/vertexproject/synapse/pull/11']);
    expect(rst.releases.find((r) => r.version === '2.3.0')!.migrations[0]!.text).toBe('Migrate storage-layers to a new index. (#8)');
    expect(rst.releases.find((r) => r.version === '2.1.0')!.migrations[0]!.source).toBe('prose');
    expect(rst.releases.find((r) => r.version === '2.2.0')!.prose).toEqual([]);
  });

  it('parses Markdown with the same model', () => {
    expect(md.format).toBe('md');
    expect(md.releases.map((r) => r.version)).toEqual(['2.0.0', '2.3.0', '2.4.0', '2.5.0']);
    expect(selectMigrations(md, '2.0.0', '2.5.0').map((m) => [m.version, m.warning])).toEqual([
      ['2.3.0', false],
      ['2.5.0', true],
      ['2.5.0', false],
    ]);
    expect(md.releases.at(-1)!.migrations[0]!.links).toHaveLength(2);
    expect(md.releases.at(-1)!.migrations[1]!.text).toBe('Renormalize ou:position:title values. (#12)');
  });

  it.each([
    ['empty', '   \n', /is empty/],
    ['binary', 'v2.0.0 - 2024-01-01\n====\n\u0000\u0001', /is binary/],
    ['without releases', 'Just some text\nabout nothing\n', /has no releases/],
    ['truncated', 'v2.0.0 - 2024-01-01\n===================\n\n- cut in the mid', /appears truncated/],
  ])('refuses a changelog that is %s', (_name, text, message) => {
    expect(() => parseChangelog(text, { source: 'x' })).toThrow(message);
  });

  it('refuses bad version ranges with the right codes', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return [(error as SynupError).code, (error as Error).message];
      }
      return null;
    };
    expect(code(() => selectReleases(rst, '2.5.0', '2.1.0'))).toEqual(['refused', expect.stringMatching(/refusing to downgrade from 2\.5\.0 to 2\.1\.0/)]);
    expect(code(() => selectReleases(rst, '2.3.0', '2.3.0'))).toEqual(['usage', expect.stringMatching(/both 2\.3\.0: nothing to upgrade/)]);
    expect(code(() => selectReleases(rst, '2.3.7', '2.5.0'))).toEqual(['usage', expect.stringMatching(/nearest known: 2\.3\.0 and 2\.4\.0/)]);
    expect(code(() => selectReleases(rst, 'two', '2.5.0'))).toEqual(['usage', expect.stringMatching(/"two" is not a version/)]);
    expect(selectReleases(rst, 'v2.3.0', '2.5.0').map((r) => r.version)).toEqual(['2.4.0', '2.4.1', '2.5.0']);
  });
});
