import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { repoRoot, synupInProcess, tempDir } from '../support/helpers.js';
import { createSimCell } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';

const simChangelog = path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst');

/** Three sim cells at 2.180.0 made once (aha00, axon00, cortex00); each test copies them into its own dir. */
let cells: string;
beforeAll(async () => {
  cells = mkdtempSync(path.join(os.tmpdir(), 'synup-deploy-cells-'));
  for (const name of ['aha00', 'axon00', 'cortex00']) await createSimCell(path.join(cells, name), { version: '2.180.0', seed: 30 });
});
afterAll(() => rmSync(cells, { recursive: true, force: true }));

interface Layout {
  dir: string;
  file: string;
  write(deployment: Record<string, unknown>): void;
}

/**
 * A deployment dir: the cells, cortex01 a copy of cortex00 (a mirror is made from its leader's backup) following it
 * (`mirror:` its HTTPS address), one synup.yaml each.
 */
function layout(): Layout {
  const dir = tempDir('synup-deploy-');
  cpSync(cells, dir, { recursive: true });
  cpSync(path.join(dir, 'cortex00'), path.join(dir, 'cortex01'), { recursive: true });
  appendFileSync(path.join(dir, 'cortex01', 'cell.yaml'), 'mirror: https://127.0.0.1:28112/\n');
  ['aha00', 'axon00', 'cortex00', 'cortex01'].forEach((name, i) => writeFileSync(path.join(dir, `${name}.yaml`), stringify({ cell: { dir: `./${name}` }, health: { port: 28110 + i }, state: { dir: './state' } })));
  const file = path.join(dir, 'deployment.yaml');
  return { dir, file, write: (d) => writeFileSync(file, stringify(d)) };
}

const mirror = { nexusIndex: ['node', 'nexus.js', '{port}'], promote: ['node', 'promote.js', '{port}'] };
const services = [
  { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00' },
  { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml' },
  { name: 'axon00', kind: 'axon', config: 'axon00.yaml' },
  { name: 'aha00', kind: 'aha', config: 'aha00.yaml' },
];
const deployment = { name: 'lab', to: '2.182.0', changelog: simChangelog, state: { dir: './state' }, mirror, services };

/** A second mirror of cortex00 in the layout: cortex02, its own copy and synup.yaml. */
function addCortex02(d: Layout) {
  cpSync(path.join(d.dir, 'cortex00'), path.join(d.dir, 'cortex02'), { recursive: true });
  appendFileSync(path.join(d.dir, 'cortex02', 'cell.yaml'), 'mirror: aha://cortex.synapse/\n');
  appendFileSync(path.join(d.dir, 'cortex00', 'cell.yaml'), 'aha:leader: cortex\naha:network: synapse\n');
  writeFileSync(path.join(d.dir, 'cortex02.yaml'), stringify({ cell: { dir: './cortex02' }, health: { port: 28114 }, state: { dir: './state' } }));
  return { name: 'cortex02', kind: 'cortex', config: 'cortex02.yaml', mirrorOf: 'cortex00' };
}

describe('synup deploy plan', () => {
  it('orders the services as the devops guide does: AHA/Axon/JSONStor, then the Cortex mirrors first, promotion, old leader as a mirror', async () => {
    const d = layout();
    d.write(deployment);
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file, '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.tiers.map((t: { title: string }) => t.title)).toEqual(['AHA, Axon and JSONStor', 'Cortex']);
    expect(plan.tiers[0].lanes.map((l: { services: string[] }) => l.services)).toEqual([['axon00'], ['aha00']]);
    expect(plan.tiers[1].lanes[0].phases.map((p: { id: string; role: string }) => `${p.id}/${p.role}`)).toEqual([
      'upgrade-mirror:cortex01/mirror',
      'catch-up:cortex01/mirror',
      'promote:cortex01/leader',
      'upgrade-old-leader:cortex00/mirror',
      'catch-up:cortex00/mirror',
    ]);
    const byName = Object.fromEntries(plan.services.map((s: { name: string }) => [s.name, s]));
    expect(byName.cortex00).toMatchObject({ role: 'leader', mirrors: ['cortex01'], from: '2.180.0', to: '2.182.0', adapter: 'process' });
    expect(byName.cortex01).toMatchObject({ role: 'mirror', mirrorOf: 'cortex00' });
    expect(byName.cortex00.migrations.map((m: { version: string }) => m.version)).toEqual(['2.181.0', '2.182.0']);
    expect(byName.cortex00.steps.map((s: { name: string }) => s.name)).toContain('cold-defrag');
    expect(byName.cortex00.downtime.clientVisible).toMatch(/^the promotion only/);
    expect(byName.cortex01.downtime.clientVisible).toMatch(/^none for writers/);
    expect(byName.aha00.downtime.clientVisible).toMatch(/^stop \+ cold defrag \(~.*\) \+ first boot \(unknown until rehearsed\)$/);
    expect(byName.aha00.downtime.estimate.dataBytes).toBeGreaterThan(0);
  });

  it('renders text, a Markdown runbook with checkboxes for every phase, and standalone HTML; -o writes the file', async () => {
    const d = layout();
    d.write(deployment);
    const text = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(text.exitCode).toBe(0);
    expect(text.stderr).toMatch(/Tier 1: AHA, Axon and JSONStor — 2 lanes, independent: may run in parallel/);
    expect(text.stderr.indexOf('upgrade-mirror:cortex01')).toBeLessThan(text.stderr.indexOf('promote:cortex01'));
    const md = await synupInProcess(['deploy', 'plan', '-f', d.file, '--format', 'md']);
    expect(md.stdout).toMatch(/^# Synapse deployment upgrade: lab/);
    expect(md.stdout.match(/^\d+\. \[ \] /gm)).toHaveLength(7);
    expect(md.stdout).toMatch(/`promote:cortex01` — Warm cortex01's Storm \(one version read; it must answer 2\.182\.0\): .*Promote cortex01 \(graceful hand-off\)/);
    expect(md.stdout).toMatch(/## cortex00 \(cortex, leader \(mirrors: cortex01\)\): 2\.180\.0 → 2\.182\.0/);
    const out = path.join(d.dir, 'runbook.html');
    const html = await synupInProcess(['deploy', 'plan', '-f', d.file, '--format', 'html', '-o', out]);
    expect(html.exitCode).toBe(0);
    const page = readFileSync(out, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<code>upgrade-old-leader:cortex00</code>');
    expect(page).not.toMatch(/<script|<link /);
  });

  it('a leader with two mirrors: the one marked promote: is promoted, the other follows the new leader and is caught up before the old leader goes down', async () => {
    const d = layout();
    const cortex02 = addCortex02(d);
    // Graceful: the mirror that is not promoted follows the leader by its AHA name (an address would strand it).
    const yaml = path.join(d.dir, 'cortex01', 'cell.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^mirror: .*$/m, 'mirror: aha://cortex.synapse/'));
    const tcp = (port: number) => `tcp://root:secret@127.0.0.1:${port}/`;
    const lane = { ...deployment, services: [services[0], { ...cortex02, promote: true }, services[1]] };
    d.write(lane);
    const graceful = JSON.parse((await synupInProcess(['deploy', 'plan', '-f', d.file, '--json'])).stdout);
    expect(graceful.tiers[0].lanes[0].phases.map((p: { id: string }) => p.id)).toEqual([
      'upgrade-mirror:cortex01',
      'catch-up:cortex01',
      'upgrade-mirror:cortex02',
      'catch-up:cortex02',
      'promote:cortex02',
      'follow-new-leader:cortex01',
      'upgrade-old-leader:cortex00',
      'catch-up:cortex00',
    ]);
    expect(graceful.services.find((s: { name: string }) => s.name === 'cortex00')).toMatchObject({ mirrors: ['cortex01', 'cortex02'], promoted: 'cortex02' });
    expect(graceful.tiers[0].lanes[0].phases[5].description).toBe("cortex01 follows the leader by its AHA name, now cortex02: wait until its nexus index reaches cortex02's (read just before).");
    d.write({ ...lane, mirror: { ...mirror, promotion: 'failure' }, services: lane.services.map((s, i) => ({ ...s, url: tcp(27492 + i) })) });
    const text = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^\s+- follow-new-leader:cortex01 +Point cortex01 at the new leader cortex02 \(mirror: in its cell\.mods\.yaml\), restart it \(already at 2\.182\.0\), wait until its nexus index reaches cortex02's/m);
    expect(text.stderr).toMatch(/^\s+- promote:cortex02 +Warm cortex02's Storm .*Promote cortex02 \(failure mode, no AHA\): wait until cortex02 has cortex00's last nexus entry, stop cortex00/m);
    expect(text.stderr).toMatch(/^\W*cortex00\W+cortex\W+leader \(mirrors: cortex01, cortex02; cortex02 is promoted\)/m);
    expect(text.stderr).not.toContain('secret');
    const md = (await synupInProcess(['deploy', 'plan', '-f', d.file, '--format', 'md'])).stdout;
    expect(md.match(/^\d+\. \[ \] /gm)).toHaveLength(8);
    expect(md).toMatch(/^6\. \[ \] \*\*Cortex\*\* `follow-new-leader:cortex01` — Point cortex01 at the new leader cortex02/m);
  });

  it('--to overrides the file; a service already at the target has nothing to do', async () => {
    const d = layout();
    d.write({ ...deployment, to: undefined });
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file, '--to', '2.181.0', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).services.every((s: { to: string }) => s.to === '2.181.0')).toBe(true);
    d.write({ ...deployment, to: '2.180.0' });
    const same = await synupInProcess(['deploy', 'plan', '-f', d.file, '--json']);
    expect(same.exitCode, same.stderr).toBe(0);
    const plan = JSON.parse(same.stdout);
    expect(plan.services.every((s: { migrations: unknown[]; downtime: { clientVisible: string } }) => s.migrations.length === 0 && s.downtime.clientVisible.startsWith('none'))).toBe(true);
    expect(plan.notes).toContain('Every service is already at its target version: nothing to do.');
  });
});

describe('synup deploy plan: bad deployment files (exit 2, one clear line, nothing written)', () => {
  const cases: [string, (d: Layout) => void, RegExp][] = [
    ['no such file', () => undefined, /^synup: deployment file \S+deployment\.yaml does not exist$/m],
    ['not YAML', (d) => writeFileSync(d.file, 'services: [\n'), /^synup: deployment \S+ is not valid YAML: /m],
    ['a list at the top', (d) => writeFileSync(d.file, '- a\n'), /^synup: deployment \S+: expected a mapping with a services: list at the top level$/m],
    ['unknown key', (d) => d.write({ ...deployment, servics: [] }), /^synup: deployment \S+: \(top level\): unknown key "servics"$/m],
    ['unknown kind', (d) => d.write({ ...deployment, services: [{ ...services[3], kind: 'ahaa' }] }), /^synup: deployment \S+: services\.0\.kind: Invalid option: expected one of "aha"\|"axon"/m],
    ['no services', (d) => d.write({ ...deployment, services: [] }), /^synup: deployment \S+: services: expected at least one service$/m],
    ['duplicate name', (d) => d.write({ ...deployment, services: [services[3], { ...services[2], name: 'aha00' }] }), /^synup: deployment \S+: services\.1: name "aha00" is already used by services\.0$/m],
    ['mirror of nothing', (d) => d.write({ ...deployment, services: [{ ...services[0], mirrorOf: 'cortex09' }, services[1]] }), /^synup: deployment \S+: services\.0 \(cortex01\): mirrorOf "cortex09" names no service of this deployment$/m],
    ['mirror of a mirror', (d) => d.write({ ...deployment, services: [services[0], { ...services[1], mirrorOf: 'cortex01' }] }), /^synup: deployment \S+: services\.0 \(cortex01\): mirrorOf cortex00, which is itself a mirror of cortex01$/m],
    ['mirror of another kind', (d) => d.write({ ...deployment, services: [{ ...services[0], mirrorOf: 'axon00' }, services[2]] }), /^synup: deployment \S+: services\.0 \(cortex01\): a cortex cannot mirror axon00 \(kind axon\)$/m],
    ['mirrors without mirror commands', (d) => d.write({ ...deployment, mirror: undefined }), /^synup: deployment \S+: mirror: is missing; it says how to read a service's nexus index and promote a mirror$/m],
    ['mirror command not a list', (d) => d.write({ ...deployment, mirror: { ...mirror, promote: 'python3 -m synapse.tools.service.promote' } }), /^synup: deployment \S+: mirror\.promote: Invalid input: expected array, received string$/m],
    ['two services on one cell dir', (d) => d.write({ ...deployment, services: [services[3], { ...services[2], config: 'aha00.yaml' }] }), /^synup: deployment \S+: axon00 and aha00 have the same cell dir \S+aha00$/m],
    // Issue 21 item 6: the same dir through a symlink, the same port under another name of the same host.
    ['two services on one cell dir, one through a symlink (another kind)', (d) => {
      symlinkSync(path.join(d.dir, 'aha00'), path.join(d.dir, 'axon-link'));
      writeFileSync(path.join(d.dir, 'axon00.yaml'), stringify({ cell: { dir: './axon-link' }, health: { port: 28111 }, state: { dir: './state' } }));
      d.write({ ...deployment, services: [services[3], services[2]] });
    }, /^synup: deployment \S+: axon00 and aha00 have the same cell dir \S+aha00 \(axon00's \S+axon-link is a symlink to it\)$/m],
    ['one health port as localhost and as 127.0.0.1', (d) => {
      writeFileSync(path.join(d.dir, 'aha00.yaml'), stringify({ cell: { dir: './aha00' }, health: { host: 'localhost', port: 28110 }, state: { dir: './state' } }));
      writeFileSync(path.join(d.dir, 'axon00.yaml'), stringify({ cell: { dir: './axon00' }, health: { host: '127.0.0.1', port: 28110 }, state: { dir: './state' } }));
      d.write({ ...deployment, services: [services[3], services[2]] });
    }, /^synup: deployment \S+: axon00 and aha00 have the same health port 28110 \(127\.0\.0\.1 and localhost are one host\)$/m],
    ['graceful promotion, a mirror that is not promoted following a direct address', (d) => {
      const cortex02 = addCortex02(d);
      writeFileSync(path.join(d.dir, 'cortex02', 'cell.yaml'), readFileSync(path.join(d.dir, 'cortex02', 'cell.yaml'), 'utf8').replace('mirror: aha://cortex.synapse/', 'mirror: https://127.0.0.1:28112/'));
      d.write({ ...deployment, services: [services[0], cortex02, services[1]] });
    }, /^synup: deployment \S+: cortex02 follows https:\/\/127\.0\.0\.1:28112\/ \(mirror: in its cell\.yaml\), an address: with mirror\.promotion: graceful it would stay on cortex00 after cortex01 is promoted$/m],
    ['a service config that does not exist', (d) => d.write({ ...deployment, services: [{ ...services[3], config: 'nope.yaml' }] }), /^synup: deployment \S+: services\.0 \(aha00\): config \S+nope\.yaml does not exist$/m],
    ['a bad service config', (d) => { writeFileSync(path.join(d.dir, 'aha00.yaml'), 'cell: { dir: ./aha00 }\nhealth: { port: 0 }\n'); d.write(deployment); }, /^synup: deployment \S+: services\.\d \(aha00\): config \S+aha00\.yaml: health\.port: /m],
    ['promote: on a service that is no mirror', (d) => d.write({ ...deployment, services: [services[0], { ...services[1], promote: true }] }), /^synup: deployment \S+: services\.1 \(cortex00\): promote: is only for a mirror \(it names the mirror that becomes the leader\)$/m],
    ['promote: not a boolean', (d) => d.write({ ...deployment, services: [{ ...services[0], promote: 'yes' }, services[1]] }), /^synup: deployment \S+: services\.0\.promote: Invalid input: expected boolean, received string$/m],
    ['two mirrors of one leader promoted', (d) => d.write({ ...deployment, services: [{ ...services[0], promote: true }, { ...addCortex02(d), promote: true }, services[1]] }), /^synup: deployment \S+: services\.1 \(cortex02\): promote: true is already set on cortex01, another mirror of cortex00$/m],
    ['no target version', (d) => d.write({ ...deployment, to: undefined }), /^synup: no target version for cortex01$/m],
    ['a target that is not a version', (d) => d.write({ ...deployment, to: '2.182' }), /^synup: deployment \S+: to: expected a version like 2\.250\.0$/m],
  ];
  it.each(cases)('%s', async (_name, arrange, message) => {
    const d = layout();
    arrange(d);
    const before = fileDigests(d.dir);
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(r.stderr).toMatch(message);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('synup:'))).toHaveLength(1);
    expect(fileDigests(d.dir)).toEqual(before);
  });

  // Issue 21 item 2: which leader a mirror follows is checked before anything is touched (exit 3, nothing written).
  const following: [string, string | null, RegExp][] = [
    ['another service of the deployment', 'https://127.0.0.1:28111/', /^synup: cortex01 follows axon00 \(mirror: https:\/\/127\.0\.0\.1:28111\/ in its cell\.yaml\), not cortex00, the leader the deployment file gives it$/m],
    ['a local address where its leader does not answer', 'https://localhost:9/', /^synup: cortex01 follows https:\/\/localhost:9\/ \(mirror: in its cell\.yaml\), not cortex00, the leader the deployment file gives it \(cortex00 answers at 127\.0\.0\.1:28112\)$/m],
    ['no leader at all', null, /^synup: cortex01 follows no leader \(no mirror: in its cell\.yaml or cell\.mods\.yaml\), though the deployment file makes it a mirror of cortex00$/m],
  ];
  it.each(following)('a mirror that follows %s: exit 3, nothing written', async (_name, url, message) => {
    const d = layout();
    const yaml = path.join(d.dir, 'cortex01', 'cell.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(/^mirror: .*\n/m, url === null ? '' : `mirror: ${url}\n`));
    d.write(deployment);
    const before = fileDigests(d.dir);
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(r.stderr).toMatch(message);
    expect(r.exitCode).toBe(3);
    expect(fileDigests(d.dir)).toEqual(before);
  });

  it('a downgrade is refused (exit 3) naming the service', async () => {
    const d = layout();
    d.write({ ...deployment, to: '2.179.0' });
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(r.stderr).toMatch(/^synup: cortex01: refusing to downgrade from 2\.180\.0 to 2\.179\.0/m);
    expect(r.exitCode).toBe(3);
  });
});

describe('synup deploy upgrade/resume/status: refusals before anything is touched', () => {
  it('upgrade without -y and no terminal: exit 2, nothing written (no journal, no lock)', async () => {
    const d = layout();
    d.write(deployment);
    const before = fileDigests(d.dir);
    const r = await synupInProcess(['deploy', 'upgrade', '-f', d.file]);
    expect(r.stderr).toMatch(/^synup: refusing to act without confirmation: no terminal to ask on$/m);
    expect(r.exitCode).toBe(2);
    expect(fileDigests(d.dir)).toEqual(before);
  });

  it('--parallel that is not a whole number ≥ 1: exit 2, one line naming the flag, nothing written', async () => {
    const d = layout();
    d.write(deployment);
    const before = fileDigests(d.dir);
    for (const bad of ['0', '1.5', 'two']) {
      const r = await synupInProcess(['deploy', 'upgrade', '-f', d.file, '--parallel', bad, '-y']);
      expect(r.stderr).toMatch(new RegExp(`^synup: --parallel must be a whole number ≥ 1, received "${bad.replace('.', '\\.')}"$`, 'm'));
      expect(r.stderr.split('\n').filter((l) => l.startsWith('synup:'))).toHaveLength(1);
      expect(r.exitCode).toBe(2);
    }
    expect(fileDigests(d.dir)).toEqual(before);
  });

  it('resume without a run: exit 2; status of a deployment never run: each service at its version, stopped as its cell says, the file\'s role beside it', async () => {
    const d = layout();
    d.write(deployment);
    const r = await synupInProcess(['deploy', 'resume', '-f', d.file, '-y']);
    expect(r.stderr).toMatch(/^Deployment lab: no run to resume\.$/m);
    expect(r.exitCode).toBe(2);
    const status = await synupInProcess(['deploy', 'status', '-f', d.file, '--json']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual({
      deployment: 'lab',
      run: null,
      services: [
        { name: 'cortex01', version: '2.180.0', role: 'stopped, mirror of cortex00' },
        { name: 'cortex00', version: '2.180.0', role: 'stopped', fileRole: 'leader' },
        { name: 'axon00', version: '2.180.0', role: 'stopped', fileRole: 'standalone' },
        { name: 'aha00', version: '2.180.0', role: 'stopped', fileRole: 'standalone' },
      ],
    });
  });
});

describe('synup deploy plan --impact', () => {
  it('each Cortex gets its impact report (offline: the services are stopped); other services none; a deprecated cell key is named; nothing written', async () => {
    const { realChangelog } = await import('../support/helpers.js');
    const d = layout();
    writeFileSync(path.join(d.dir, 'cortex00', 'cell.mods.yaml'), 'modules: []\n');
    d.write({ ...deployment, to: '2.250.0', changelog: realChangelog });
    const before = fileDigests(d.dir);
    const result = await synupInProcess(['deploy', 'plan', '-f', d.file, '--impact', '--json'], { cwd: d.dir });
    expect(result.exitCode, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout);
    const byName = Object.fromEntries(plan.services.map((s: { name: string }) => [s.name, s]));
    expect(byName.aha00.impact).toBeNull();
    expect(byName.axon00.impact).toBeNull();
    for (const name of ['cortex00', 'cortex01']) {
      expect(byName[name].impact.report).toMatchObject({ from: '2.180.0', to: '2.250.0', source: 'offline' });
      expect(byName[name].impact.report.checked.nodes).toBeGreaterThan(0);
      expect(byName[name].downtime.estimate.basis).toBe('node counts');
    }
    expect(byName.cortex00.impact.report.config.map((c: { key: string; bullet: { version: string } }) => `${c.key} ${c.bullet.version}`)).toEqual(['modules 2.206.0']);
    expect(byName.cortex01.impact.report.clean).toBe(true);
    const text = await synupInProcess(['deploy', 'plan', '-f', d.file, '--impact'], { cwd: d.dir });
    expect(text.stderr).toContain('Impact on cortex00: 1 deprecated configuration key(s)');
    expect(text.stderr).toMatch(/Impact on cortex01: nothing in this cell uses what the changelog deprecates or changes; first boot with migrations predicted/);
    const md = await synupInProcess(['deploy', 'plan', '-f', d.file, '--impact', '--format', 'md'], { cwd: d.dir });
    expect(md.stdout).toContain('### What this upgrade touches in this cell');
    expect(fileDigests(d.dir)).toEqual(before);
  });
});
