// The impact analysis (src/plan/impact.ts) on the real changelog's bullets: how stored Storm is matched (no false
// hits on look-alike names), how the first boot is predicted from node counts, and one migration per revision.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { impactBullets, parseChangelog, selectReleases } from '../../src/changelog/index.js';
import { MIGRATION_RATES } from '../../src/plan/boot-calibration.js';
import { analyzeImpact, type CellFacts, type StormObject } from '../../src/plan/impact.js';
import { realChangelog } from '../support/helpers.js';

const real = parseChangelog(readFileSync(realChangelog, 'utf8'));
const bullets = (from: string, to: string) => impactBullets(selectReleases(real, from, to));
const facts = (over: Partial<CellFacts> = {}): CellFacts => ({ source: 'storm', where: 'test', counts: {}, formCounts: {}, code: [], packageKeys: [], config: [], readMs: 0, ...over });
const object = (type: StormObject['type'], text: string): StormObject => ({ type, iden: `${type}-1`, name: type, text });

describe('stored Storm against the crossed bullets', () => {
  const range = bullets('2.180.0', '2.250.0');
  const uses = (o: StormObject) => analyzeImpact({ from: '2.180.0', to: '2.250.0', bullets: range, facts: facts({ code: [o] }) }).code.map((h) => `${h.line} ${h.uses}`);

  it('finds calls, commands, options and trigger variables by name, with their lines', () => {
    expect(uses(object('macro', '$a = $lib.list()\n$b = $lib.text(x)\n$c = $lib.infosec.cvss.calculate($n)'))).toEqual(['1 $lib.list', '2 $lib.text', '3 $lib.infosec.cvss.calculate']);
    expect(uses(object('cron', 'inet:fqdn | cron.add --hourly 5 { inet:ipv4 }'))).toEqual(['1 cron.add --hourly']);
    expect(uses(object('dmon', 'ps.list\n$lib.ps.list()'))).toEqual(['1 ps.list', '2 $lib.ps']);
  });

  it('does not match look-alikes: a longer name, a method of the same name, a replacement, an option of another command', () => {
    expect(uses(object('macro', '$x = $lib.lists\n$y = $lib.pkg.get(x)\n$z = $lib.task.list()\n$w = ({})\n$v = ([])'))).toEqual([]);
    expect(uses(object('cron', 'cron.add --period 1h { inet:fqdn } | cron.list\nwget --daily'))).toEqual([]);
    expect(uses(object('macro', '$tag'))).toEqual([]); // $tag is deprecated in triggers only (and 2.179.0 is not crossed)
  });
});

describe('predicted first boot', () => {
  it('2.242.0 → 2.250.0: the boot, the model migrations\' constant, one release with migrations, the econ:pay:card:pan nodes at the rate of a migration that creates nodes', () => {
    const report = analyzeImpact({ from: '2.242.0', to: '2.250.0', bullets: bullets('2.242.0', '2.250.0'), facts: facts({ counts: { 'econ:pay:card:pan': 4000 }, formCounts: { 'inet:fqdn': 96000, 'econ:pay:card': 4000 } }) });
    expect(report.migrations.map((m) => [m.version, m.nodes, m.source?.slice(0, 15)])).toEqual([['2.243.0', 4000, 'modelrev 0.2.36']]);
    expect(report.predictedMigrationSeconds).toBeCloseTo(MIGRATION_RATES.bootSeconds + MIGRATION_RATES.migrationBaseSeconds + MIGRATION_RATES.fixedSecondsPerRelease + 4000 / MIGRATION_RATES.createNodesPerSecond, 6);
    expect(report.checked.nodes).toBe(100000);
    expect(report.migrationEstimate).toMatchObject({ source: 'built-in rates', calibrated: false, work: { releases: ['2.243.0'], createNodes: 4000, normalizeNodes: 0, allNodes: 0 } });
  });

  it('offline, a migrated property is counted by its form (an upper bound: its index is not walked)', () => {
    const report = analyzeImpact({ from: '2.242.0', to: '2.250.0', bullets: bullets('2.242.0', '2.250.0'), facts: facts({ source: 'offline', formCounts: { 'econ:pay:card': 2500, 'econ:pay': 7 } }) });
    expect(report.migrationEstimate.work.createNodes).toBe(2500);
    expect(report.data.map((d) => d.name)).not.toContain('econ:pay:card:pan'); // the data rows still count only what was counted
  });

  it('2.180.0 → 2.250.0: a range-limited migration is not predicted from the whole form; the two bullets of one revision count once', () => {
    const report = analyzeImpact({ from: '2.180.0', to: '2.250.0', bullets: bullets('2.180.0', '2.250.0'), facts: facts({ formCounts: { 'inet:ipv4': 50000, 'inet:url': 1000, 'inet:server': 500 } }) });
    expect(report.migrations.find((m) => m.version === '2.181.0' && m.scan === 'subset')?.nodes).toBe(0);
    expect(report.migrations.filter((m) => m.version === '2.237.0').map((m) => m.nodes)).toEqual([1500]);
    const releases = new Set(range().map((b) => b.version)).size;
    expect(report.predictedMigrationSeconds).toBeCloseTo(MIGRATION_RATES.bootSeconds + MIGRATION_RATES.migrationBaseSeconds + releases * MIGRATION_RATES.fixedSecondsPerRelease + 1500 / MIGRATION_RATES.normalizeNodesPerSecond, 6);
  });
});

/** The crossed migration bullets (2.180.0 → 2.250.0) that are not the "See datamigration" boilerplate. */
function range() {
  return bullets('2.180.0', '2.250.0').filter((b) => b.section === 'migrations' && b.category !== 'summary');
}

describe('SYN_* variables where the adapter knows them', () => {
  it("the process adapter's env and the systemd adapter's EnvironmentFile; a deprecated one is named with its bullet", async () => {
    const { writeFileSync } = await import('node:fs');
    const path = await import('node:path');
    const { tempDir } = await import('../support/helpers.js');
    const { serviceEnvKeys } = await import('../../src/runner/impact.js');
    const file = path.join(tempDir('synup-envfile-'), 'cortex.env');
    writeFileSync(file, '# synapse\nSYNAPSE_VERSION=2.180.0\nexport SYN_CORTEX_MODULES=[]\nSYN_CORTEX_HTTPS_PORT=4443\n');
    const config = { service: { process: { env: { SYN_CORTEX_CRON_ENABLE: 'true', PYTHONPATH: '/x' } }, systemd: { environmentFile: file } } } as unknown as Parameters<typeof serviceEnvKeys>[0];
    const found = serviceEnvKeys(config);
    expect(found).toEqual([
      { where: 'service.process.env (synup.yaml)', keys: ['SYN_CORTEX_CRON_ENABLE'] },
      { where: file, keys: ['SYN_CORTEX_MODULES', 'SYN_CORTEX_HTTPS_PORT'] },
    ]);
    const report = analyzeImpact({ from: '2.180.0', to: '2.250.0', bullets: bullets('2.180.0', '2.250.0'), facts: facts({ config: found }) });
    expect(report.config.map((c) => `${c.key} ${c.bullet.version}`)).toEqual(['SYN_CORTEX_MODULES 2.206.0']); // cron:enable: 2.165.0, not crossed
  });
});
