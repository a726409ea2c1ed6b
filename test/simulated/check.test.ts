// `synup check` (issue 23) on the simulated Cortex: the report through Storm on a running cell (the sim answers the
// impact query only read-only, behind basic auth, after its Storm pool's start), offline from a stopped cell's layer
// files, a clean cell's report saying what was looked at, and every bad input refused with nothing changed on disk.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { waitForActive } from '../../src/health/index.js';
import { createAdapter, type ServiceAdapter } from '../../src/service/index.js';
import { createSimCell, freePort, inspectSimCell, SIM_CELL_JS } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';
import { realChangelog, synupInProcess, tempDir } from '../support/helpers.js';
// Imported here, not in the test: its afterEach (which stops every harness's cell) must be registered with the file.
import { startHarness } from '../support/upgrade-harness.js';

const running: ServiceAdapter[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop({ timeoutMs: 5000 }).catch(() => undefined)));
});

const PASSWORD = 'sim-secret';

/** A stopped sim cell at 2.180.0 with `seed` nodes and a synup.yaml (process adapter, the sim behind basic auth). */
async function simCell(options: { seed?: number; health?: string; env?: Record<string, string> } = {}) {
  const work = tempDir('synup-check-');
  const cellDir = path.join(work, 'cortex00');
  await createSimCell(cellDir, { version: '2.180.0', seed: options.seed ?? 0 });
  const port = await freePort();
  const env = { SYN_SIM_PASSWORD: PASSWORD, SYN_SIM_STORM_START_MS: '300', ...options.env };
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {name: cortex00, dir: ./cortex00}',
      'state: {dir: ./state}',
      'service:',
      '  adapter: process',
      `  process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}'], env: ${JSON.stringify(env)}}`,
      options.health ?? `health: {port: ${port}, password: ${PASSWORD}}`,
      '',
    ].join('\n'),
  );
  return { work, cellDir, port };
}

async function start(work: string, cellDir: string, port: number): Promise<void> {
  const { config } = loadConfig({ cwd: work });
  const adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
  running.push(adapter);
  await adapter.start('2.180.0');
  await waitForActive({ host: '127.0.0.1', port, cellDir, deadlineMs: 30_000 });
}

/** What the tests store in the sim's Cortex: each piece uses one deprecated name of 2.180.0 → 2.250.0. */
const STORED = {
  forms: { 'meta:seen': 3, 'ou:requirement': 2 },
  props: { 'inet:whois:rec:registrant': 7 },
  crons: [{ iden: 'c0ffee00000000000000000000000001', name: 'nightly', query: '$x = $lib.list()\n$t = $lib.text(hello)\n$d = ({"ok": true})' }],
  triggers: [{ iden: 'feed0000000000000000000000000002', name: 'on-fqdn', storm: 'cron.add --hourly 15 { inet:fqdn }' }],
  macros: [{ iden: 'abcd0000000000000000000000000003', name: 'ps-sweep', storm: '// lists tasks\nfor $t in $lib.ps.list() { $lib.print($t) }' }],
  dmons: [],
  packages: [{ name: 'acme-pkg', version: '1.2.3', modules: [{ name: 'acme.util', storm: 'function f() {\n  return($lib.inet.whois.guid(({}), x))\n}' }], commands: [{ name: 'acme.do', storm: 'ps.kill $iden', forms: { input: ['inet:fqdn'] } }] }],
};

describe('synup check on a running Cortex (Storm)', () => {
  it('names every deprecated use with its object, line and bullet; counts forms and properties; exit 3 with --require-clean', async () => {
    const cell = await simCell({ seed: 300, env: { SYN_CORTEX_MODULES: '[]' } });
    writeFileSync(path.join(cell.cellDir, 'sim-storm.json'), JSON.stringify(STORED));
    writeFileSync(path.join(cell.cellDir, 'cell.yaml'), readFileSync(path.join(cell.cellDir, 'cell.yaml'), 'utf8') + 'modules: []\n');
    await start(cell.work, cell.cellDir, cell.port);
    const before = fileDigests(cell.cellDir);

    const result = await synupInProcess(['check', '--to', '2.250.0', '--json'], { cwd: cell.work });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ from: '2.180.0', to: '2.250.0', source: 'storm', clean: false });
    const hits = report.code.map((h: { object: { type: string; name: string; part?: string }; line: number; uses: string; bullet: { version: string; links: string[] } }) =>
      `${h.object.type} ${h.object.name}${h.object.part ? ` ${h.object.part}` : ''} line ${h.line}: ${h.uses} (${h.bullet.version} ${h.bullet.links.join(' ')})`);
    expect(hits).toEqual([
      'cron nightly line 1: $lib.list (2.194.0 https://github.com/vertexproject/synapse/pull/4071)',
      'cron nightly line 2: $lib.text (2.194.0 https://github.com/vertexproject/synapse/pull/4072)',
      'macro ps-sweep line 2: $lib.ps (2.224.0 https://github.com/vertexproject/synapse/pull/4515)',
      'package acme-pkg command acme.do line 1: ps.kill (2.224.0 https://github.com/vertexproject/synapse/pull/4515)',
      'package acme-pkg module acme.util line 2: $lib.inet.whois.guid (2.184.0 https://github.com/vertexproject/synapse/pull/3951)',
      'trigger on-fqdn line 1: cron.add --hourly (2.234.0 https://github.com/vertexproject/synapse/pull/4718)',
    ]);
    expect(report.code[0].object.iden).toBe('c0ffee00000000000000000000000001');
    expect(report.packageKeys).toEqual([expect.objectContaining({ package: 'acme-pkg', where: 'command acme.do', key: 'forms', bullet: expect.objectContaining({ version: '2.195.0' }) })]);
    expect(report.config.map((c: { where: string; key: string; bullet: { version: string } }) => `${path.basename(c.where)} ${c.key} ${c.bullet.version}`)).toEqual([
      'cell.yaml modules 2.206.0',
      'service.process.env (synup.yaml) SYN_CORTEX_MODULES 2.206.0',
    ]);
    expect(Object.fromEntries(report.data.map((d: { name: string; count: number }) => [d.name, d.count]))).toEqual({ 'meta:seen': 3, 'ou:requirement': 2, 'inet:whois:rec:registrant': 7 });
    const nodes = (await inspectSimCell(cell.cellDir)).layers.reduce((s, l) => s + l.nodes, 0);
    expect(report.checked).toMatchObject({ stormObjects: 4, nodes: nodes + 5, configKeys: expect.any(Number) });
    expect(fileDigests(cell.cellDir)).toEqual(before);

    const text = await synupInProcess(['check', '--to', '2.250.0'], { cwd: cell.work });
    expect(text.stderr).toContain('cron nightly (c0ffee00000000000000000000000001) line 1: $lib.list — 2.194.0 deprecated (#4071)');
    expect(text.stderr).toContain('inet:whois:rec:registrant: 7 nodes — 2.247.0 deprecated (#4979)');
    expect(text.stderr).toMatch(/checked 176 changelog bullets 2\.180\.0 → 2\.250\.0 .*4 Storm objects \(\d+ lines/);
    expect(text.stderr).toContain('NOT clean');

    const strict = await synupInProcess(['check', '--to', '2.250.0', '--json', '--require-clean'], { cwd: cell.work });
    expect(strict.exitCode).toBe(3);
    expect(JSON.parse(strict.stdout).clean).toBe(false);
    expect(strict.stderr).toContain('synup: refused: cortex00 still uses what 2.180.0 → 2.250.0 deprecates (6 in stored Storm, 2 configuration keys, 1 package keys)');

    const md = await synupInProcess(['check', '--to', '2.250.0', '--format', 'md', '-o', 'impact.md'], { cwd: cell.work });
    expect(md.exitCode).toBe(0);
    expect(readFileSync(path.join(cell.work, 'impact.md'), 'utf8')).toContain('## What this upgrade touches in this cell');
  }, 60_000);

  it('a clean cell: an empty report that says what was checked, and how much', async () => {
    const cell = await simCell({ seed: 200 });
    await start(cell.work, cell.cellDir, cell.port);
    const result = await synupInProcess(['check', '--to', '2.250.0', '--json', '--require-clean'], { cwd: cell.work });
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    const nodes = (await inspectSimCell(cell.cellDir)).layers.reduce((s, l) => s + l.nodes, 0);
    expect(report).toMatchObject({ clean: true, code: [], config: [], data: [], packageKeys: [] });
    expect(report.checked).toMatchObject({ bullets: 176, forms: 1, nodes, stormObjects: 0, stormLines: 0 });
    const text = await synupInProcess(['check', '--to', '2.250.0'], { cwd: cell.work });
    expect(text.stderr).toContain(`${nodes} nodes, 0 Storm objects`);
    expect(text.stderr).toContain('clean: no deprecated use in stored Storm, configuration or packages');

    // plan --impact: the first boot's estimate comes from the node counts; the runbook has the impact section.
    const plan = JSON.parse((await synupInProcess(['plan', '--to', '2.250.0', '--impact', '--json'], { cwd: cell.work })).stdout);
    expect(plan.estimate).toMatchObject({ basis: 'node counts', bootSeconds: plan.impact.predictedMigrationSeconds, bootSource: 'built-in rates' });
    expect(plan.impact).toMatchObject({ clean: true, source: 'storm' });
    const runbook = await synupInProcess(['plan', '--to', '2.250.0', '--impact', '--format', 'md'], { cwd: cell.work });
    expect(runbook.stdout).toContain('## What this upgrade touches in this cell');
    expect(runbook.stdout).toMatch(/first boot ~\d+ s \(node counts, built-in rates\)/);
    expect(runbook.stdout).toContain('built-in rates, uncalibrated'); // nothing measured in this state dir yet
    const noCell = await synupInProcess(['plan', '--from', '2.180.0', '--to', '2.250.0', '--impact'], { cwd: tempDir('synup-nocell-') });
    expect([noCell.exitCode, noCell.stderr]).toEqual([2, expect.stringContaining('--impact needs the cell')]);
  }, 60_000);
});

describe('synup check offline', () => {
  it('a stopped cell: form counts from its layers, cell.yaml keys, stored Storm not read; no byte written', async () => {
    const cell = await simCell({ seed: 500 });
    writeFileSync(path.join(cell.cellDir, 'cell.mods.yaml'), 'modules: []\n');
    const before = fileDigests(cell.cellDir);
    const result = await synupInProcess(['check', '--to', '2.250.0', '--json'], { cwd: cell.work });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    const nodes = (await inspectSimCell(cell.cellDir)).layers.reduce((s, l) => s + l.nodes, 0);
    expect(report).toMatchObject({ source: 'offline', where: cell.cellDir, clean: false });
    expect(report.checked).toMatchObject({ nodes, forms: 1, stormObjects: null });
    expect(report.config.map((c: { where: string; key: string }) => `${path.basename(c.where)} ${c.key}`)).toEqual(['cell.mods.yaml modules']);
    expect(fileDigests(cell.cellDir)).toEqual(before);
    const text = await synupInProcess(['check', '--to', '2.250.0'], { cwd: cell.work });
    expect(text.stderr).toContain('stored Storm not read (offline');

    // A backup of the cell (synup's own: compacted layer envs) reads the same, and stays as it was.
    const backup = path.join(cell.work, 'backup0');
    expect((await synupInProcess(['backup', cell.cellDir, backup], { cwd: cell.work })).exitCode).toBe(0);
    const backupBefore = fileDigests(backup);
    const fromBackup = JSON.parse((await synupInProcess(['check', '--to', '2.250.0', '--json', '--backup', 'backup0'], { cwd: cell.work })).stdout);
    expect(fromBackup).toMatchObject({ source: 'offline', where: backup, checked: { nodes, forms: 1 } });
    expect(fileDigests(backup)).toEqual(backupBefore);
  }, 60_000);
});

describe('synup check refuses bad input, changing nothing', () => {
  const cases: [what: string, args: string[], code: number, message: RegExp][] = [
    ['an unknown target version', ['--to', '2.999.0'], 2, /--to 2\.999\.0 is newer than the built-in snapshot of Synapse's CHANGELOG\.rst, whose newest entry is 2\.250\.0/],
    ['a target that is not a version', ['--to', 'latest'], 2, /--to: "latest" is not a version/],
    ['a downgrade', ['--to', '2.170.0'], 3, /refusing to downgrade from 2\.180\.0 to 2\.170\.0/],
    ['the current version as target', ['--to', '2.180.0'], 2, /both 2\.180\.0: nothing to upgrade/],
    ['a bad format', ['--to', '2.250.0', '--format', 'xml'], 2, /argument 'xml' is invalid/],
    ['--json with --format md', ['--to', '2.250.0', '--json', '--format', 'md'], 2, /--json and --format md ask for two different outputs/],
    ['a backup dir that is not a cell', ['--to', '2.250.0', '--backup', 'nowhere'], 2, /cannot read the version of .*nowhere/],
  ];
  it.each(cases)('%s', async (_what, args, code, message) => {
    const cell = await simCell();
    const before = fileDigests(cell.work);
    const result = await synupInProcess(['check', ...args], { cwd: cell.work });
    expect(result.exitCode).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(fileDigests(cell.work)).toEqual(before);
  });

  it('an unreachable Cortex (running, health.port wrong), no credentials, wrong credentials', async () => {
    const cell = await simCell();
    await start(cell.work, cell.cellDir, cell.port);
    const closed = await freePort();
    const config = readFileSync(path.join(cell.work, 'synup.yaml'), 'utf8');
    const before = fileDigests(cell.cellDir);
    const withHealth = async (health: string) => {
      writeFileSync(path.join(cell.work, 'synup.yaml'), config.replace(/^health: .*$/m, health));
      return synupInProcess(['check', '--to', '2.250.0', '--json'], { cwd: cell.work });
    };
    const unreachable = await withHealth(`health: {port: ${closed}, password: ${PASSWORD}}`);
    expect(unreachable.exitCode).toBe(1);
    expect(JSON.parse(unreachable.stdout).error.message).toMatch(new RegExp(`cannot reach the Cortex: https://127\\.0\\.0\\.1:${closed}: ECONNREFUSED`));
    const none = await withHealth(`health: {port: ${cell.port}}`);
    expect(none.exitCode).toBe(2);
    expect(JSON.parse(none.stdout).error.message).toMatch(/no credentials \(health\.password\)/);
    const wrong = await withHealth(`health: {port: ${cell.port}, password: not-it}`);
    expect(wrong.exitCode).toBe(2);
    expect(JSON.parse(wrong.stdout).error.message).toMatch(/refused the credentials of user root \(HTTP 401 NotAuthenticated\)/);
    expect(wrong.stdout).not.toContain('not-it');
    expect(fileDigests(cell.cellDir)).toEqual(before);
  }, 60_000);
});

describe('synup upgrade: the impact summary in preflight, and --require-clean-impact', () => {
  it('prints the summary; refuses (clean-impact) with the flag or upgrade.requireCleanImpact before anything stops; --ignore-preflight=clean-impact goes on', async () => {
    const harness = await startHarness({
      version: '2.180.0',
      processEnv: { SYN_SIM_PASSWORD: PASSWORD, SYN_SIM_STORM_START_MS: '300' },
      beforeStart: ({ cellDir }) => writeFileSync(path.join(cellDir, 'sim-storm.json'), JSON.stringify({ crons: STORED.crons })),
    });
    const env = { SYNUP_HEALTH_PASSWORD: PASSWORD };
    const upgrade = (...extra: string[]) => harness.run(['upgrade', '--to', '2.250.0', '--changelog', realChangelog, '-y', ...extra], env);
    const before = await harness.digest();

    const refused = await upgrade('--require-clean-impact');
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toContain('impact (Storm): 2 deprecated use(s) in stored Storm');
    expect(refused.stderr).toContain('[ERROR clean-impact] this cell still uses what 2.180.0 → 2.250.0 deprecates: cron nightly line 1: $lib.list (2.194.0); cron nightly line 2: $lib.text (2.194.0)');
    expect(refused.stderr).toContain('--ignore-preflight=clean-impact');
    expect((await harness.adapter.status()).running).toBe(true);
    expect(await harness.version()).toBe('2.180.0');
    expect(await harness.digest()).toEqual(before);

    writeFileSync(path.join(harness.work, 'synup.yaml'), readFileSync(path.join(harness.work, 'synup.yaml'), 'utf8') + 'upgrade: {requireCleanImpact: true}\n');
    const byConfig = await upgrade();
    expect(byConfig.exitCode).toBe(3);
    expect(byConfig.stderr).toContain('[ERROR clean-impact]');
    expect(await harness.digest()).toEqual(before);

    const ignored = await upgrade('--ignore-preflight', 'clean-impact');
    expect(ignored.stderr).toContain('[WARNING clean-impact] this cell still uses what 2.180.0 → 2.250.0 deprecates');
    expect(ignored.exitCode, ignored.stderr).toBe(0);
    expect(await harness.version()).toBe('2.250.0');
  }, 120_000);
});
