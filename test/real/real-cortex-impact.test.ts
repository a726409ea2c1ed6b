// `synup check` (issue 23) on the lab's real Cortex 2.180.0: the test seeds nodes of forms and properties that
// 2.180.0 → 2.250.0 deprecates, a cron job and a macro using deprecated $lib calls, a trigger using a deprecated
// command option, a deprecated cell.yaml key; the report names each with its bullet and its counts equal Storm lifts.
// The same Cortex made clean gets an empty report that says what was checked; stopped, the offline report's form
// counts (the layers' count:forms, read with synup's data-v1 binding) equal the running Cortex's. A rehearsal on a
// backup of it then calibrates the predicted migration time (its source is the rehearsal, not the built-in rates).
// SYN_LAB: the lab dir (setup.sh); run after `npm run build` (the CLI runs as a child process).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fileDigests } from '../sim/testing.js';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { api, groupMembers, isActive, killGroups, LAB, labSkipReason, labSynupConfig, until, type LabCortex } from '../support/lab-cortex.js';

if (labSkipReason) console.warn(`real-Cortex impact tests skipped: ${labSkipReason}`);

/** One Storm call's return value (fails the test on a Storm error). */
async function call(cortex: LabCortex, query: string, vars: Record<string, unknown> = {}): Promise<unknown> {
  const r = await api(cortex, 'POST', '/api/v1/storm/call', { query, opts: { vars } });
  const body = JSON.parse(r.text);
  if (body.status !== 'ok') throw new Error(`storm ${query.slice(0, 60)}: ${r.text.slice(0, 300)}`);
  return body.result;
}

/** How many nodes a Storm lift yields (node messages streamed by /api/v1/storm): independent of the counts synup reads. */
async function lifted(cortex: LabCortex, query: string): Promise<number> {
  const r = await api(cortex, 'POST', '/api/v1/storm', { query, opts: { repr: false } });
  return [...r.text.matchAll(/\["node", \[\[/g)].length + [...r.text.matchAll(/\["node",\[\[/g)].length;
}

const SEED = [
  // nodes: 5 with the deprecated inet:whois:rec:registrant (2.247.0), 3 of the deprecated form meta:seen (2.203.0),
  // 2 of ou:requirement (deprecated 2.217.0), 4 inet:web:acct (its secondary properties deprecated 2.191.0)
  'for $i in $lib.range(5) { [ inet:whois:rec=(`w{$i}.example.com`, 2024/01/01) :registrant=`reg{$i}` ] }',
  '[ meta:source=* :name=impact ] $s = $node.value() for $i in $lib.range(3) { [ meta:seen=($s, (inet:fqdn, `s{$i}.example.com`)) ] }',
  '[ ou:requirement=* ou:requirement=* ]',
  'for $i in $lib.range(4) { [ inet:web:acct=(twitter.com, `user{$i}`) :signup=2020/01/01 ] }',
  // stored Storm: a cron job and a macro using deprecated $lib calls, a trigger using a deprecated cron.add option
  'cron.add --name impact-cron --hourly 30 {\n    $x = $lib.list()\n    $t = $lib.text(hello)\n}',
  '$lib.macro.set(impact-macro, ${ $d = ({"a": 1})\nfor $t in $lib.ps.list() { $lib.print($t) } })',
  'trigger.add node:add --form inet:fqdn --name impact-trig --query { cron.add --daily 05:00 { inet:fqdn } }',
];

describe.skipIf(labSkipReason !== null)('real Cortex 2.180.0: synup check → 2.250.0', () => {
  const groups: number[] = [];
  afterAll(() => killGroups(groups));

  it('names each seeded deprecated use with its bullet, counts as Storm lifts; clean, it says what was checked; offline counts match', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-impact-');
    const cellDir = path.join(work, 'cortex00');
    mkdirSync(cellDir);
    const port = 25400 + Math.floor(Math.random() * 400);
    const cellYaml = `https:port: ${port}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${port + 500}/\n`;
    writeFileSync(path.join(cellDir, 'cell.yaml'), cellYaml + 'modules: []\n'); // `modules`: deprecated in 2.206.0
    writeFileSync(path.join(work, 'synup.yaml'), stringify(labSynupConfig(lab, 'cortex00', { port, password: 'secret', startTimeout: '150s' })));
    const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '' }, timeout: 240_000 });

    // A fresh cell has no data yet: synup start needs its version, so the first boot is the lab's script directly.
    const { spawn } = await import('node:child_process');
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(path.join(work, 'cortex.log'), 'a');
    const first = spawn(runCortexScript, [path.join(lab, 'src-v2.180.0'), cellDir], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    groups.push(first.pid!);
    const cortex = { dir: cellDir, port };
    await until('the 2.180.0 Cortex to be active', 180_000, async () => ((await isActive(cortex)) ? true : null));
    for (const query of SEED) await call(cortex, query);

    const result = await run(['check', '--to', '2.250.0', '--json']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ from: '2.180.0', to: '2.250.0', source: 'storm', clean: false });
    const iden = (type: string) => report.code.find((h: { object: { type: string } }) => h.object.type === type).object.iden;
    expect(report.code.map((h: { object: { type: string; name: string }; line: number; uses: string; bullet: { version: string; links: string[] } }) =>
      `${h.object.type} ${h.object.name} line ${h.line}: ${h.uses} (${h.bullet.version} ${h.bullet.links.join(' ')})`)).toEqual([
      'cron impact-cron line 1: $lib.list (2.194.0 https://github.com/vertexproject/synapse/pull/4071)',
      'cron impact-cron line 2: $lib.text (2.194.0 https://github.com/vertexproject/synapse/pull/4072)',
      'macro impact-macro line 2: $lib.ps (2.224.0 https://github.com/vertexproject/synapse/pull/4515)',
      'trigger impact-trig line 1: cron.add --daily (2.234.0 https://github.com/vertexproject/synapse/pull/4718)',
    ]);
    // The idens are the Cortex's own: as its cron.list / trigger.list show them.
    const crons = (await call(cortex, '$l = ([]) for $c in $lib.cron.list() { $l.append($c.iden) } return($l)')) as string[];
    const trigs = (await call(cortex, '$l = ([]) for $t in $lib.trigger.list() { $l.append($t.iden) } return($l)')) as string[];
    expect([iden('cron'), iden('trigger')]).toEqual([crons[0], trigs[0]]);
    expect(report.config.map((c: { where: string; key: string; bullet: { version: string } }) => `${path.basename(c.where)} ${c.key} ${c.bullet.version}`)).toEqual(['cell.yaml modules 2.206.0']);

    const counts = Object.fromEntries(report.data.map((d: { name: string; count: number }) => [d.name, d.count]));
    const expected = {
      'inet:whois:rec:registrant': await lifted(cortex, 'inet:whois:rec:registrant'),
      'meta:seen': await lifted(cortex, 'meta:seen'),
      'ou:requirement': await lifted(cortex, 'ou:requirement'),
      'inet:web:acct': await lifted(cortex, 'inet:web:acct'),
    };
    expect(expected).toEqual({ 'inet:whois:rec:registrant': 5, 'meta:seen': 3, 'ou:requirement': 2, 'inet:web:acct': 4 });
    expect(counts).toMatchObject(expected);
    console.log(`real Cortex 2.180.0 impact report → 2.250.0 (Storm) in ${report.checked.readMs} ms: ${report.code.length} Storm hits, ${report.data.length} data rows, predicted migrations ${report.predictedMigrationSeconds.toFixed(1)} s`);

    // Made clean: the stored Storm removed, the deprecated nodes deleted, cell.yaml without `modules`.
    await call(cortex, `cron.del ${crons[0]} | trigger.del ${trigs[0]} | macro.del impact-macro`);
    await call(cortex, 'inet:whois:rec meta:seen ou:requirement inet:web:acct | delnode --force');
    writeFileSync(path.join(cellDir, 'cell.yaml'), cellYaml);
    const clean = await run(['check', '--to', '2.250.0', '--json', '--require-clean']);
    expect(clean.exitCode).toBe(0);
    const empty = JSON.parse(clean.stdout);
    expect(empty).toMatchObject({ clean: true, code: [], config: [], data: [], packageKeys: [] });
    expect(empty.checked).toMatchObject({ bullets: 176, stormObjects: 0, configKeys: 3 });
    expect(empty.checked.forms).toBeGreaterThan(0);
    const text = await run(['check', '--to', '2.250.0']);
    expect(text.stderr).toMatch(/checked 176 changelog bullets 2\.180\.0 → 2\.250\.0 \(\d+ naming something a cell holds\), \d+\/\d+ names counted, \d+ forms and \d+ nodes, 0 Storm objects/);

    // Stopped: the offline report reads the layers' count:forms and writes nothing.
    const online = (await call(cortex, 'return($lib.view.get().getFormCounts())')) as Record<string, number>;
    process.kill(-first.pid!, 'SIGTERM');
    await until('the Cortex to stop', 30_000, async () => ((await isActive(cortex).catch(() => null)) === null ? true : null));
    await until('its group to be gone', 30_000, async () => (groupMembers(first.pid!).length === 0 ? true : null));
    const before = fileDigests(cellDir);
    const offline = await run(['check', '--to', '2.250.0', '--json', '--offline']);
    expect(offline.exitCode).toBe(0);
    const off = JSON.parse(offline.stdout);
    expect(off).toMatchObject({ source: 'offline', where: cellDir });
    const nonzero = (counts: Record<string, number>) => Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0).sort());
    expect(off.checked.nodes).toBe(Object.values(nonzero(online)).reduce((a, b) => a + b, 0));
    expect(off.checked.forms).toBe(Object.keys(nonzero(online)).length);
    expect(fileDigests(cellDir)).toEqual(before);
    console.log(`real Cortex 2.180.0 stopped: offline impact report in ${off.checked.readMs} ms, ${off.checked.nodes} nodes in ${off.checked.forms} forms (as Storm's form counts)`);
    expect(off.migrationEstimate).toMatchObject({ source: 'built-in rates', calibrated: false });

    // A rehearsal of 2.250.0 on a backup of it measures a first boot: the prediction is then calibrated by it, and
    // for the same node counts it is the boot the rehearsal measured (its fixed part and its model migrations).
    const backupDir = path.join(work, 'backup');
    const backup = await run(['backup', '--cold', cellDir, backupDir, '--json']);
    expect(backup.stderr).toBe('');
    expect(backup.exitCode).toBe(0);
    const rehearsal = await run(['rehearse', '--backup', backupDir, '--to', '2.250.0', '--port', String(port), '--json']);
    expect(rehearsal.exitCode, rehearsal.stderr).toBe(0);
    const rehearsed = JSON.parse(rehearsal.stdout);
    expect(rehearsed.migrationWork).toEqual(off.migrationEstimate.work);
    expect(rehearsed.modelMigrationMs).toBeGreaterThan(0); // the log's `beginning model migration` → `model migrations complete`
    const calibrated = JSON.parse((await run(['check', '--to', '2.250.0', '--json', '--offline'])).stdout);
    expect(calibrated.migrationEstimate).toMatchObject({ source: `rehearsal ${rehearsed.id}`, calibrated: true, builtInSeconds: off.predictedMigrationSeconds });
    expect(calibrated.predictedMigrationSeconds).toBeCloseTo(rehearsed.migrationMs / 1000, 6);
    console.log(`rehearsal ${rehearsed.id}: first boot ${rehearsed.migrationMs} ms (model migrations ${rehearsed.modelMigrationMs} ms); built-in rates said ${off.predictedMigrationSeconds.toFixed(1)} s`);
  }, 480_000);
});
