// The deployment file's aha: section through the CLI: `deploy discover` (table, JSON, services: fragment), the
// comparison of the file's roles with AHA's before `deploy plan` and `deploy upgrade` touch anything (exit 3), AHA's
// roles in `deploy status`, and every bad aha: input. AHA's answer comes from test/fakes/aha-list.js, which prints a
// fixed getAhaSvcs() list: the adapter boundary (the real query runs in test/real/real-cortex-aha-discover.test.ts).
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot, synupInProcess, tempDir } from '../support/helpers.js';
import { createSimCell } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';

const simChangelog = path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst');
const FAKE_AHA = path.join(repoRoot, 'test', 'fakes', 'aha-list.js');
const AHA_URL = 'ssl://root:s3cret@127.0.0.1:27492/';

let cells: string;
beforeAll(async () => {
  cells = mkdtempSync(path.join(os.tmpdir(), 'synup-deploy-aha-cells-'));
  for (const name of ['aha00', 'axon00', 'cortex00']) await createSimCell(path.join(cells, name), { version: '2.180.0', seed: 20 });
});
afterAll(() => rmSync(cells, { recursive: true, force: true }));

/** One entry of AHA's registry as getAhaSvcs() yields it (lib/aha.py addAhaSvc, lib/cell.py getAhaInfo). */
function entry(svcname: string, run: string, options: { leader?: string | null; port?: number; online?: boolean; ready?: boolean } = {}) {
  const online = options.online ?? true;
  return {
    name: `${svcname}.synapse`,
    svcname,
    svcnetw: 'synapse',
    svcinfo: {
      run,
      iden: `iden-${options.leader ?? svcname}`,
      leader: options.leader === undefined ? 'cortex' : options.leader,
      urlinfo: { scheme: 'ssl', port: options.port ?? 27500, hostname: `${svcname}.synapse`, ca: 'synapse', user: 'root', passwd: 'hunter2', host: '127.0.0.1' },
      ready: options.ready ?? online,
      promotable: true,
      ...(online ? { online: 'a5f0c3' } : {}),
    },
  };
}

/** AHA as provisioned: 00.cortex leads the alias cortex (its run), 01.cortex mirrors it, 00.axon stands alone. */
const provisioned = [entry('00.cortex', 'run00', { port: 27501 }), entry('01.cortex', 'run01', { port: 27502 }), entry('cortex', 'run00', { port: 27501 }), entry('00.axon', 'runax', { leader: null, port: 27503 })];
/** After a promotion of 01.cortex: the alias points at its run. */
const promoted = [entry('00.cortex', 'run00', { port: 27501 }), entry('01.cortex', 'run01', { port: 27502 }), entry('cortex', 'run01', { port: 27502 }), entry('00.axon', 'runax', { leader: null, port: 27503 })];

interface Layout {
  dir: string;
  file: string;
  view: string;
  write(deployment: Record<string, unknown>): void;
  answer(entries: unknown): void;
}

function layout(): Layout {
  const dir = tempDir('synup-deploy-aha-');
  cpSync(cells, dir, { recursive: true });
  cpSync(path.join(dir, 'cortex00'), path.join(dir, 'cortex01'), { recursive: true });
  // A mirror follows its leader (checked before a plan or a run): by the leader alias, as AHA provisions it.
  appendFileSync(path.join(dir, 'cortex01', 'cell.yaml'), 'mirror: aha://cortex.synapse/\n');
  ['aha00', 'axon00', 'cortex00', 'cortex01'].forEach((name, i) => writeFileSync(path.join(dir, `${name}.yaml`), stringify({ cell: { dir: `./${name}` }, health: { port: 28210 + i }, state: { dir: './state' } })));
  const file = path.join(dir, 'deployment.yaml');
  const view = path.join(dir, 'aha-view.json');
  writeFileSync(view, JSON.stringify(provisioned));
  return { dir, file, view, write: (d) => writeFileSync(file, stringify(d)), answer: (entries) => writeFileSync(view, JSON.stringify(entries)) };
}

const services = [
  { name: 'aha00', kind: 'aha', config: 'aha00.yaml' },
  { name: 'axon00', kind: 'axon', config: 'axon00.yaml', ahaName: '00.axon.synapse' },
  { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', ahaName: '00.cortex.synapse' },
  { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00', ahaName: '01.cortex.synapse' },
];
const mirror = { nexusIndex: ['node', 'nexus.js', '{port}'], promote: ['node', 'promote.js', '{port}'] };
const deploymentOf = (d: Layout, extra: Record<string, unknown> = {}) => ({
  name: 'lab',
  to: '2.182.0',
  changelog: simChangelog,
  state: { dir: './state' },
  mirror,
  aha: { url: AHA_URL, command: [process.execPath, FAKE_AHA, '{url}', d.view] },
  services,
  ...extra,
});

/** The one `synup:` line of a failed command. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('synup:'));

describe('synup deploy discover', () => {
  it("prints AHA's services with their roles (table), a services: fragment on stdout, and JSON without any password", async () => {
    const d = layout();
    d.write(deploymentOf(d));
    const text = await synupInProcess(['deploy', 'discover', '-f', d.file]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^AHA at ssl:\/\/root@127\.0\.0\.1:27492\/: 3 service\(s\)$/m);
    expect(text.stderr).toMatch(/^\| 00\.axon\.synapse +\| - +\| standalone +\| yes +\| yes +\| ssl:\/\/127\.0\.0\.1:27503\/ \|$/m);
    expect(text.stderr).toMatch(/^\| 00\.cortex\.synapse +\| cortex\.synapse +\| leader \(cortex\.synapse\) +\| yes +\| yes +\| ssl:\/\/127\.0\.0\.1:27501\/ \|$/m);
    expect(text.stderr).toMatch(/^\| 01\.cortex\.synapse +\| cortex\.synapse +\| mirror of 00\.cortex\.synapse \(cortex\.synapse\) +\| yes +\| yes +\| ssl:\/\/127\.0\.0\.1:27502\/ \|$/m);
    expect(text.stdout).toMatch(/^# From AHA: names and mirrorOf\. CHANGE-ME: /);
    expect(parse(text.stdout)).toEqual({
      services: [
        { name: '00.axon', kind: 'axon', config: 'CHANGE-ME/00.axon.synup.yaml', ahaName: '00.axon.synapse' },
        { name: '00.cortex', kind: 'cortex', config: 'CHANGE-ME/00.cortex.synup.yaml', ahaName: '00.cortex.synapse' },
        { name: '01.cortex', kind: 'cortex', config: 'CHANGE-ME/01.cortex.synup.yaml', ahaName: '01.cortex.synapse', mirrorOf: '00.cortex' },
      ],
    });

    const json = await synupInProcess(['deploy', 'discover', '-f', d.file, '--json']);
    expect(json.exitCode, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.aha).toBe('ssl://root@127.0.0.1:27492/');
    expect(out.services).toEqual([
      { name: '00.axon.synapse', leaderAlias: null, role: 'standalone', leader: null, ready: true, online: true, url: 'ssl://127.0.0.1:27503/' },
      { name: '00.cortex.synapse', leaderAlias: 'cortex.synapse', role: 'leader', leader: '00.cortex.synapse', ready: true, online: true, url: 'ssl://127.0.0.1:27501/' },
      { name: '01.cortex.synapse', leaderAlias: 'cortex.synapse', role: 'mirror', leader: '00.cortex.synapse', ready: true, online: true, url: 'ssl://127.0.0.1:27502/' },
    ]);
    expect(out.fragment.trimEnd()).toBe(text.stdout.trimEnd());
    for (const r of [text, json]) expect(`${r.stdout}${r.stderr}`).not.toMatch(/s3cret|hunter2/);
  });

  it('after a promotion: the mirror leads; an offline service is shown offline and not ready; a kind the name does not tell is CHANGE-ME', async () => {
    const d = layout();
    d.write(deploymentOf(d));
    d.answer([...promoted.slice(0, 3), entry('00.search', 'runse', { leader: null, online: false })]);
    const r = await synupInProcess(['deploy', 'discover', '-f', d.file, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.services.map((s: { name: string; role: string; leader: string | null; ready: boolean; online: boolean }) => `${s.name} ${s.role} ${s.leader} ready=${s.ready} online=${s.online}`)).toEqual([
      '00.search.synapse standalone null ready=false online=false',
      '01.cortex.synapse leader 01.cortex.synapse ready=true online=true',
      '00.cortex.synapse mirror 01.cortex.synapse ready=true online=true',
    ]);
    expect(parse(out.fragment).services.map((s: { name: string; mirrorOf?: string }) => `${s.name}${s.mirrorOf ? ` ← ${s.mirrorOf}` : ''}`)).toEqual(['00.search', '01.cortex', '00.cortex ← 01.cortex']);
    expect(parse(out.fragment).services[0].kind).toBe('search');
    d.answer([entry('00.thing', 'runth', { leader: null })]);
    const unknown = await synupInProcess(['deploy', 'discover', '-f', d.file]);
    expect(unknown.stdout).toMatch(/^ {2}- \{ name: 00\.thing, kind: CHANGE-ME, /m);
  });

  const bad: [string, (d: Layout) => string[], number, RegExp][] = [
    ['no aha: in the file', (d) => (d.write({ ...deploymentOf(d), aha: undefined }), ['-f', d.file]), 2, /^synup: deployment \S+deployment\.yaml has no aha: section$/],
    ['--aha-url that is not a telepath URL', () => ['--aha-url', 'https://root:pw@aha:443/'], 2, /^synup: --aha-url: expected a telepath URL of the AHA server like cell:\/\/\/srv\/aha\/ or ssl:\/\/root@aha\.synapse:27492\/, received "https:\/\/root@aha:443\/"$/],
    ['the AHA command fails', (d) => (d.write(deploymentOf(d, { aha: { url: AHA_URL, command: [process.execPath, '-e', 'console.error("NoSuchPath: ssl://root:s3cret@127.0.0.1:27492/ refused"); process.exit(3)'] } })), ['-f', d.file]), 1, /^synup: asking AHA failed \(\S+ -e console\.error.* exit 3: NoSuchPath: ssl:\/\/root@127\.0\.0\.1:27492\/ refused$/],
    ['the AHA command does not exist', (d) => (d.write(deploymentOf(d, { aha: { url: AHA_URL, command: ['/nonexistent/python3', '-c', '{script}', '{url}'] } })), ['-f', d.file]), 1, /^synup: asking AHA failed \(\/nonexistent\/python3 -c <script> ssl:\/\/root@127\.0\.0\.1:27492\/\): cannot run \/nonexistent\/python3 \(ENOENT\)$/],
    ['the AHA command hangs', (d) => (d.write(deploymentOf(d, { aha: { url: AHA_URL, command: [process.execPath, '-e', 'setTimeout(() => undefined, 20000)'], timeout: '1s' } })), ['-f', d.file]), 1, /^synup: asking AHA failed \(.*\): no answer within 1(\.0)? ?s$/],
    ['the AHA command prints no JSON', (d) => (d.write(deploymentOf(d, { aha: { url: AHA_URL, command: [process.execPath, '-e', 'console.log("Service  network  leader")'] } })), ['-f', d.file]), 1, /^synup: aha\.command printed no JSON array on its last line \(/],
    ['the AHA command prints JSON of another shape', (d) => (d.answer([{ svcname: '00.cortex', svcinfo: {} }]), d.write(deploymentOf(d)), ['-f', d.file]), 1, /^synup: aha\.command printed JSON that is not AHA's service list: 0\.svcnetw: /],
  ];
  it.each(bad)('%s: one clear line, its exit code, nothing written', async (_name, arrange, code, message) => {
    const d = layout();
    const args = arrange(d);
    const before = fileDigests(d.dir);
    const r = await synupInProcess(['deploy', 'discover', ...args], { cwd: d.dir });
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(errorLines(r.stderr)[0]).toMatch(message);
    expect(r.exitCode).toBe(code);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/s3cret|hunter2/);
    expect(fileDigests(d.dir)).toEqual(before);
  });
});

describe('deploy plan and deploy upgrade compare the file with AHA before touching anything', () => {
  it('a file that agrees with AHA plans as before; AHA names default to aha:name/aha:network of the cell (cell.mods.yaml over cell.yaml)', async () => {
    const d = layout();
    d.write(deploymentOf(d));
    const r = await synupInProcess(['deploy', 'plan', '-f', d.file, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tiers.map((t: { title: string }) => t.title)).toEqual(['AHA, Axon and JSONStor', 'Cortex']);

    appendFileSync(path.join(d.dir, 'cortex00', 'cell.yaml'), 'aha:name: 00.cortex\naha:network: synapse\n');
    appendFileSync(path.join(d.dir, 'cortex01', 'cell.yaml'), 'aha:name: 00.cortex\naha:network: synapse\n');
    writeFileSync(path.join(d.dir, 'cortex01', 'cell.mods.yaml'), 'aha:name: 01.cortex\n');
    d.write(deploymentOf(d, { services: services.map((s) => (s.kind === 'cortex' ? { ...s, ahaName: undefined } : s)) }));
    const named = await synupInProcess(['deploy', 'plan', '-f', d.file, '--json']);
    expect(named.exitCode, named.stderr).toBe(0);
    d.answer(promoted);
    const swapped = await synupInProcess(['deploy', 'plan', '-f', d.file]);
    expect(errorLines(swapped.stderr)[0]).toMatch(/names cortex00 as a leader, but AHA says 00\.cortex\.synapse is a mirror/);
  });

  const refusals: [string, (d: Layout) => void, RegExp, RegExp][] = [
    [
      'roles swapped by an earlier promotion (the file leader is a mirror in AHA)',
      (d) => d.answer(promoted),
      /^synup: deployment\.yaml names cortex00 as a leader, but AHA says 00\.cortex\.synapse is a mirror: cortex\.synapse is led by 01\.cortex\.synapse \(cortex01\)$/,
      /^ {2}fix: a promotion swapped the roles since deployment\.yaml was written: make cortex01 the leader \(no mirrorOf\) and give cortex00 mirrorOf: cortex01$/,
    ],
    [
      'AHA knows a mirror of a file leader that the file does not list',
      (d) => d.answer([...provisioned, entry('02.cortex', 'run02', { port: 27504, online: false })]),
      /^synup: AHA knows 02\.cortex\.synapse, a mirror under cortex\.synapse \(led by 00\.cortex\.synapse\), which deployment\.yaml does not list: it would stay at its version, following an upgraded leader \(read-only\)$/,
      /^ {2}fix: add it to services: \(name, kind, config, mirrorOf: cortex00; `synup deploy discover` prints a fragment\), or remove it from AHA if it is gone for good$/,
    ],
    [
      'a standalone file service that AHA says has a mirror (the file left the mirror out)',
      (d) => d.write(deploymentOf(d, { mirror: undefined, services: [services[0], services[1], services[2]] })),
      /^synup: AHA knows 01\.cortex\.synapse, a mirror under cortex\.synapse \(led by 00\.cortex\.synapse\), which deployment\.yaml does not list/,
      /mirrorOf: cortex00/,
    ],
    [
      'a file mirror that AHA says leads another alias',
      (d) => d.answer([entry('00.cortex', 'run00', { leader: 'cortexb' }), entry('cortexb', 'run00', { leader: 'cortexb' }), entry('01.cortex', 'run01'), entry('cortex', 'run01'), entry('00.axon', 'runax', { leader: null })]),
      /^synup: deployment\.yaml names cortex01 as a mirror of cortex00, but AHA says 01\.cortex\.synapse leads cortex\.synapse$/,
      /fix: a promotion swapped the roles/,
    ],
    [
      'a file mirror under another leader alias than its file leader',
      (d) => d.answer([entry('00.cortex', 'run00'), entry('cortex', 'run00'), entry('01.cortex', 'run01', { leader: 'cortexb' }), entry('cortexb', 'run09', { leader: 'cortexb' }), entry('00.axon', 'runax', { leader: null })]),
      /^synup: deployment\.yaml names cortex01 as a mirror of cortex00, but AHA says 01\.cortex\.synapse follows cortexb\.synapse and 00\.cortex\.synapse is under cortex\.synapse$/,
      /fix: set mirrorOf: to the service that leads cortexb\.synapse/,
    ],
    [
      'a service AHA does not know',
      (d) => d.write(deploymentOf(d, { services: services.map((s) => (s.name === 'axon00' ? { ...s, ahaName: '00.axn.synapse' } : s)) })),
      /^synup: axon00: AHA knows no service 00\.axn\.synapse$/,
      /fix: check ahaName: .*`synup deploy discover` lists what AHA knows$/,
    ],
  ];
  for (const command of ['plan', 'upgrade'] as const) {
    it.each(refusals)(`deploy ${command}: %s → exit 3, one line, nothing written`, async (_name, arrange, message, hint) => {
      const d = layout();
      d.write(deploymentOf(d));
      arrange(d);
      const before = fileDigests(d.dir);
      const r = await synupInProcess(['deploy', command, '-f', d.file, ...(command === 'upgrade' ? ['-y'] : [])]);
      expect(errorLines(r.stderr)).toHaveLength(1);
      expect(errorLines(r.stderr)[0]).toMatch(message);
      expect(r.stderr.split('\n')).toContainEqual(expect.stringMatching(hint));
      expect(r.exitCode).toBe(3);
      expect(r.stdout).toBe('');
      expect(fileDigests(d.dir)).toEqual(before);
    });
  }

  it('deploy resume is not compared (past a promotion AHA has swapped the roles on purpose)', async () => {
    const d = layout();
    d.write(deploymentOf(d));
    d.answer(promoted);
    const r = await synupInProcess(['deploy', 'resume', '-f', d.file, '-y']);
    expect(r.stderr).toMatch(/^Deployment lab: no run to resume\.$/m);
    expect(r.exitCode).toBe(2);
  });

  const badInputs: [string, (d: Layout) => Record<string, unknown>, RegExp][] = [
    ['unknown key in aha:', (d) => deploymentOf(d, { aha: { url: AHA_URL, command: ['x'], urls: [] } }), /^synup: deployment \S+: aha: unknown key "urls"$/],
    ['aha.url not a telepath URL', (d) => deploymentOf(d, { aha: { url: 'http://aha:8080/' } }), /^synup: deployment \S+: aha\.url: expected a telepath URL of the AHA server like cell:\/\/\/srv\/aha\/ or ssl:\/\/root@aha\.synapse:27492\/$/],
    ['aha.url missing', (d) => deploymentOf(d, { aha: { command: ['x'] } }), /^synup: deployment \S+: aha\.url: Invalid input: expected string, received undefined$/],
    ['aha.command a string', (d) => deploymentOf(d, { aha: { url: AHA_URL, command: 'python3 -m synapse.tools.aha.list' } }), /^synup: deployment \S+: aha\.command: Invalid input: expected array, received string$/],
    ['aha.command empty', (d) => deploymentOf(d, { aha: { url: AHA_URL, command: [] } }), /^synup: deployment \S+: aha\.command: Too small: expected array to have >=1 items$/],
    ['aha.timeout not a duration', (d) => deploymentOf(d, { aha: { url: AHA_URL, timeout: 'soon' } }), /^synup: deployment \S+: aha\.timeout: expected a duration above zero like 30s or 5m, received "soon"$/],
    ['aha.env not strings', (d) => deploymentOf(d, { aha: { url: AHA_URL, env: { PYTHONPATH: 3 } } }), /^synup: deployment \S+: aha\.env\.PYTHONPATH: Invalid input: expected string, received number$/],
    ['ahaName without a network', (d) => deploymentOf(d, { services: services.map((s) => (s.name === 'axon00' ? { ...s, ahaName: 'axon' } : s)) }), /^synup: deployment \S+: services\.1\.ahaName: expected an AHA service name like 00\.cortex\.synapse \(<aha:name>\.<aha:network>\)$/],
    ['a service without an AHA name', (d) => deploymentOf(d, { services: services.map((s) => (s.name === 'axon00' ? { ...s, ahaName: undefined } : s)) }), /^synup: deployment \S+: axon00 has no AHA name \(no ahaName:, and its cell\.yaml has no aha:name and aha:network\), so aha: cannot check it$/],
    [
      'a cell.yaml that is not YAML (the AHA name is read from it)',
      (d) => (writeFileSync(path.join(d.dir, 'axon00', 'cell.mods.yaml'), 'aha:name: [00.axon\n'), deploymentOf(d, { services: services.map((s) => (s.name === 'axon00' ? { ...s, ahaName: undefined } : s)) })),
      /^synup: cannot read the AHA name of \S+axon00: \S+axon00\/cell\.mods\.yaml is not valid YAML \(/,
    ],
  ];
  it.each(badInputs)('%s: exit 2, one line, nothing written (plan, upgrade, discover but for the names it does not read)', async (name, make, message) => {
    const d = layout();
    d.write(make(d));
    const before = fileDigests(d.dir);
    const commands = [['plan'], ['upgrade', '-y'], ...(/AHA name/.test(name) ? [] : [['discover']])];
    for (const command of commands) {
      const r = await synupInProcess(['deploy', ...command, '-f', d.file]);
      expect(errorLines(r.stderr), command[0]).toHaveLength(1);
      expect(errorLines(r.stderr)[0]).toMatch(message);
      expect(r.exitCode).toBe(2);
    }
    expect(fileDigests(d.dir)).toEqual(before);
  });
});

describe('deploy status with aha:', () => {
  it("shows AHA's role of each service next to what its cell says (stopped here) and the file's; an AHA that cannot be asked is reported, not fatal", async () => {
    const d = layout();
    d.write(deploymentOf(d));
    d.answer(promoted);
    const text = await synupInProcess(['deploy', 'status', '-f', d.file]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stderr).toMatch(/^ {2}cortex00 +2\.180\.0 +stopped +\(the file: leader\) +AHA: mirror of 01\.cortex\.synapse \(cortex\.synapse\), ready$/m);
    // Its cell follows the leader alias, which no cell of the file declares: shown as the cell says it.
    expect(text.stderr).toMatch(/^ {2}cortex01 +2\.180\.0 +stopped, mirror of aha:\/\/cortex\.synapse\/ +\(the file: mirror of cortex00\) +AHA: leader \(cortex\.synapse\), ready$/m);
    expect(text.stderr).toMatch(/^ {2}aha00 +2\.180\.0 +stopped +\(the file: standalone\) +AHA: AHA itself$/m);
    const json = JSON.parse((await synupInProcess(['deploy', 'status', '-f', d.file, '--json'])).stdout);
    expect(json.services.find((s: { name: string }) => s.name === 'cortex00')).toEqual({
      name: 'cortex00', version: '2.180.0', role: 'stopped', fileRole: 'leader',
      aha: { name: '00.cortex.synapse', role: 'mirror', leader: '01.cortex.synapse', ready: true, online: true, text: 'mirror of 01.cortex.synapse (cortex.synapse), ready' },
    });
    d.write(deploymentOf(d, { aha: { url: AHA_URL, command: [process.execPath, '-e', 'process.exit(5)'] } }));
    const down = await synupInProcess(['deploy', 'status', '-f', d.file]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/^ {2}AHA could not be asked: asking AHA failed \(.*\): exit 5$/m);
    expect(down.stderr).toMatch(/^ {2}cortex00 +2\.180\.0 +stopped +\(the file: leader\) +AHA: \?$/m);
  });
});
