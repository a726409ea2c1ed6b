// `synup deploy discover` and the AHA check of `deploy plan` on the lab's real Synapse: AHA 2.250.0, a 2.242.0
// Cortex leader and its mirror provisioned through it (test/support/lab-aha.ts). synup asks AHA with its built-in query
// (python3 -c <getAhaSvcs as JSON>) over AHA's unix socket; then Synapse's own promote tool swaps the roles and the
// file written before the promotion is refused.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { startAhaPair } from '../support/lab-aha.js';
import { groupsUnder, isActive, killGroups, LAB, labPythonPath, labSkipReason, NEXUS_INDEX, until } from '../support/lab-cortex.js';

if (labSkipReason) console.warn(`real-Cortex AHA discovery test skipped: ${labSkipReason}`);

const FROM = '2.242.0';
const TO = '2.250.0';

interface Discovered {
  aha: string;
  services: { name: string; leaderAlias: string | null; role: string; leader: string | null; ready: boolean; online: boolean; url: string | null }[];
  fragment: string;
}

describe.skipIf(labSkipReason !== null)('real AHA: deploy discover, and deploy plan refusing a file older than a promotion', () => {
  const groups: number[] = [];
  let work = '';
  afterEach(() => killGroups([...groups, ...(work ? groupsUnder(work) : [])]));

  it("lists AHA's leader and mirror, plans a file that agrees, refuses it once Synapse's promote tool swapped the roles", async () => {
    const lab = LAB!;
    work = tempDir('synup-aha-discover-');
    const base = 32000 + Math.floor(Math.random() * 45) * 10;
    const { aha, leader, mirror } = await startAhaPair({ lab, work, base, version: FROM, ahaVersion: TO, groups });
    const pythonPath = labPythonPath(lab, TO);
    // The lab's Python is Debian's: first on PATH for `--aha-url`'s default `python3` (the file names it).
    const run = (args: string[], cwd = work) => synup(args, { cwd, env: { CI: 'true', PATH: `/usr/bin:${process.env.PATH ?? ''}`, PYTHONPATH: pythonPath }, timeout: 120_000 });

    for (const name of ['cortex00', 'cortex01']) {
      writeFileSync(path.join(work, `${name}.yaml`), stringify({
        cell: { name, dir: `./${name}` },
        state: { dir: './state' },
        changelog: path.join(lab, `src-v${TO}`, 'CHANGELOG.rst'),
        service: { adapter: 'process', process: { command: [runCortexScript, `${lab}/src-v{version}`, '{dir}'] } },
        health: { port: (name === 'cortex00' ? leader : mirror).port },
      }));
    }
    // No ahaName: each service's AHA name is read from the cell.yaml its provisioning wrote.
    const deployment = (services: Record<string, unknown>[]) => stringify({
      name: 'lab-aha',
      state: { dir: './state' },
      to: TO,
      aha: { url: aha.url, command: ['/usr/bin/python3', '-c', '{script}', '{url}'], env: { PYTHONPATH: pythonPath }, timeout: '60s' },
      mirror: {
        nexusIndex: ['/usr/bin/python3', '-c', NEXUS_INDEX, 'cell://{dir}/'],
        promote: ['/usr/bin/python3', '-m', 'synapse.tools.service.promote', '--svcurl', 'cell://{dir}/'],
        env: { PYTHONPATH: pythonPath },
      },
      services,
    });
    writeFileSync(path.join(work, 'deployment.yaml'), deployment([
      { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml' },
      { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00' },
    ]));

    let lastAnswer = '';
    const discover = async (args: string[], cwd?: string): Promise<Discovered> => {
      const r = await run(['deploy', 'discover', ...args, '--json'], cwd);
      lastAnswer = r.exitCode === 0 ? r.stdout : r.stderr;
      expect(r.exitCode, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as Discovered;
    };
    /** Waits for AHA to answer as wanted; a timeout says what AHA answered last. */
    const waitAha = <T>(what: string, probe: () => Promise<T | null>) => until(what, 120_000, probe).catch((error: Error) => {
      throw new Error(`${error.message}; AHA's last answer: ${lastAnswer.slice(0, 3000)}`);
    });
    const roles = (d: Discovered) => d.services.map((s) => `${s.name} ${s.role} of ${s.leaderAlias} → ${s.leader}${s.ready && s.online ? '' : ' (not ready)'}`);
    const started = Date.now();
    const first = await waitAha('AHA to list the mirror as ready', async () => {
      const d = await discover([]);
      return d.services.every((s) => s.ready && s.online) && d.services.length === 2 ? d : null;
    });
    const discoverMs = Date.now() - started;
    expect(roles(first)).toEqual(['00.cortex.synapse leader of cortex.synapse → 00.cortex.synapse', '01.cortex.synapse mirror of cortex.synapse → 00.cortex.synapse']);
    expect(first.services.map((s) => s.url)).toEqual([`ssl://127.0.0.1:${leader.dmon}/`, `ssl://127.0.0.1:${mirror.dmon}/`]);
    expect(first.aha).toBe(aha.url);
    expect(parse(first.fragment).services).toEqual([
      { name: '00.cortex', kind: 'cortex', config: 'CHANGE-ME/00.cortex.synup.yaml', ahaName: '00.cortex.synapse' },
      { name: '01.cortex', kind: 'cortex', config: 'CHANGE-ME/01.cortex.synup.yaml', ahaName: '01.cortex.synapse', mirrorOf: '00.cortex' },
    ]);
    // Without a deployment file: --aha-url and the default command (python3 on PATH, PYTHONPATH from the environment).
    const empty = path.join(work, 'empty');
    mkdirSync(empty);
    const once = Date.now();
    expect(roles(await discover(['--aha-url', aha.url], empty))).toEqual(roles(first));
    const oneCallMs = Date.now() - once;

    const agreed = await run(['deploy', 'plan', '--json']);
    expect(agreed.exitCode, agreed.stderr).toBe(0);
    expect(JSON.parse(agreed.stdout).services.map((s: { name: string; role: string; from: string }) => `${s.name} ${s.role} ${s.from}`)).toEqual(['cortex01 mirror 2.242.0', 'cortex00 leader 2.242.0']);
    const status = await run(['deploy', 'status']);
    expect(status.exitCode, status.stderr).toBe(0);
    expect(status.stderr).toMatch(/^ {2}cortex00 +2\.242\.0 +leader +AHA: leader \(cortex\.synapse\), ready$/m);
    expect(status.stderr).toMatch(/^ {2}cortex01 +2\.242\.0 +mirror of cortex00 +AHA: mirror of 00\.cortex\.synapse \(cortex\.synapse\), ready$/m);

    // Synapse's graceful hand-off (what an operator, or an earlier deployment run, does): 01.cortex leads now.
    const promoted = await execa('/usr/bin/python3', ['-m', 'synapse.tools.service.promote', '--svcurl', `cell://${mirror.dir}/`], { env: { ...process.env, PYTHONPATH: labPythonPath(lab, FROM) }, reject: false, timeout: 120_000 });
    expect(promoted.exitCode, `${promoted.stdout}\n${promoted.stderr}`).toBe(0);
    await until('the promoted mirror to be active', 120_000, async () => ((await isActive(mirror)) ? true : null));
    const after = await waitAha("AHA's leader alias to point at 01.cortex", async () => {
      const d = await discover([]);
      return d.services.find((s) => s.name === '01.cortex.synapse')?.role === 'leader' ? d : null;
    });
    expect(roles(after).map((r) => r.replace(' (not ready)', ''))).toEqual(['01.cortex.synapse leader of cortex.synapse → 01.cortex.synapse', '00.cortex.synapse mirror of cortex.synapse → 01.cortex.synapse']);

    const stale = await run(['deploy', 'plan', '-o', 'plan.md']);
    expect(stale.stderr.split('\n').filter((l) => l.startsWith('synup:'))).toEqual(['synup: deployment.yaml names cortex00 as a leader, but AHA says 00.cortex.synapse is a mirror: cortex.synapse is led by 01.cortex.synapse (cortex01)']);
    expect(stale.stderr).toMatch(/^ {2}fix: a promotion swapped the roles since deployment\.yaml was written: make cortex01 the leader \(no mirrorOf\) and give cortex00 mirrorOf: cortex01$/m);
    expect(stale.exitCode).toBe(3);
    const staleUpgrade = await run(['deploy', 'upgrade', '-y']);
    expect(staleUpgrade.exitCode, staleUpgrade.stderr).toBe(3);
    expect(existsSync(path.join(work, 'plan.md'))).toBe(false);
    expect(existsSync(path.join(work, 'state'))).toBe(false);

    // The new leader alone: AHA's mirror of it (the old leader) is missing from the file.
    writeFileSync(path.join(work, 'deployment.yaml'), deployment([{ name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml' }]));
    const partial = await run(['deploy', 'plan']);
    expect(partial.stderr).toMatch(/^synup: AHA knows 00\.cortex\.synapse, a mirror under cortex\.synapse \(led by 01\.cortex\.synapse\), which deployment\.yaml does not list: /m);
    expect(partial.exitCode).toBe(3);

    // The file as the fix says: it plans.
    writeFileSync(path.join(work, 'deployment.yaml'), deployment([
      { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml' },
      { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', mirrorOf: 'cortex01' },
    ]));
    const fixed = await run(['deploy', 'plan', '--json']);
    expect(fixed.exitCode, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout).tiers[0].lanes[0].phases.map((p: { id: string }) => p.id)).toEqual(['upgrade-mirror:cortex00', 'catch-up:cortex00', 'promote:cortex00', 'upgrade-old-leader:cortex01', 'catch-up:cortex01']);
    console.log(`AHA discovery (2 services, python3 query over AHA's unix socket): one \`synup deploy discover\` ${oneCallMs} ms; both ready ${discoverMs} ms after the mirror first answered; after the promotion: ${roles(after).join('; ')}`);
  }, 600_000);
});
