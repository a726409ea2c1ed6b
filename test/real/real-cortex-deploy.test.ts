// A real Cortex deployment (the lab's upstream Synapse): a 2.242.0 leader and its mirror, made from a backup of the
// leader with `mirror: tcp://root:…@127.0.0.1:<leader dmon port>/`, upgraded to 2.250.0 by `synup deploy upgrade`
// with promotion while a client writes nodes; every acknowledged write is on the new leader afterwards. Without AHA
// the graceful hand-off is impossible (`NeedConfValu: aha:name`), so the deployment uses mirror.promotion: failure
// (the leader stopped, then `synapse.tools.service.promote --failure`). Two tests, five Cortex boots each: the
// deployment as it runs (the old leader's stop cut short once its data is closed: issue 21 item 7), and synup
// SIGKILLed between the old leader's stop and the promotion, then `deploy resume` (item 1).
// SYN_LAB: the lab dir (setup.sh); run-cortex.sh: helpers.runCortexScript.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { groupMembers, isActive, killGroups, LAB, labPythonPath, labSkipReason, NEXUS_INDEX, nodesUnder, until, writeNode, writeThroughout } from '../support/lab-cortex.js';

const RUN = runCortexScript;
const skipReason = labSkipReason;
if (skipReason) console.warn(`real-Cortex deployment test skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('real Cortex deployment: a leader and its mirror, 2.242.0 → 2.250.0 with promotion', () => {
  const groups: number[] = [];
  afterAll(() => killGroups(groups));

  /** A 2.242.0 leader with 5 nodes and its mirror (a restored backup of it), both started by synup; deployment.yaml. */
  async function lane() {
    const lab = LAB!;
    const work = tempDir('synup-real-deploy-');
    const base = 28300 + Math.floor(Math.random() * 150) * 4;
    const ports = { cortex00: { https: base, dmon: base + 2 }, cortex01: { https: base + 1, dmon: base + 3 } };
    const dirs = { cortex00: path.join(work, 'cortex00'), cortex01: path.join(work, 'cortex01') };
    const pythonPath = labPythonPath(lab, '2.250.0');
    const cortex00 = { dir: dirs.cortex00, port: ports.cortex00.https };
    const cortex01 = { dir: dirs.cortex01, port: ports.cortex01.https };
    const cellYaml = (name: 'cortex00' | 'cortex01', extra = '') => `https:port: ${ports[name].https}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${ports[name].dmon}/\n${extra}`;
    for (const name of ['cortex00', 'cortex01'] as const) {
      writeFileSync(
        path.join(work, `${name}.yaml`),
        stringify({
          cell: { name, dir: `./${name}`, role: name === 'cortex01' ? 'mirror' : 'leader' },
          state: { dir: './state' },
          changelog: path.join(lab, 'src-v2.250.0', 'CHANGELOG.rst'),
          backup: { dir: `./backups/${name}`, maxAge: '1h' },
          service: { adapter: 'process', stopTimeout: '30s', process: { command: [RUN, `${lab}/src-v{version}`, '{dir}'] } },
          health: { port: ports[name].https, startTimeout: '150s' },
        }),
      );
    }
    const run = (args: string[], env: Record<string, string> = {}) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '', SYNUP_HEALTH_PASSWORD: 'secret', ...env }, timeout: 900_000 });

    // The leader's first boot at 2.242.0, by hand, with a few nodes; then stopped with its group.
    mkdirSync(dirs.cortex00);
    writeFileSync(path.join(dirs.cortex00, 'cell.yaml'), cellYaml('cortex00'));
    const fd = openSync(path.join(work, 'first-boot.log'), 'a');
    const first = spawn(RUN, [path.join(lab, 'src-v2.242.0'), dirs.cortex00], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    groups.push(first.pid!);
    await until('the 2.242.0 leader to be active', 180_000, async () => ((await isActive(cortex00)) ? true : null));
    for (let i = 0; i < 5; i++) expect(await writeNode(cortex00, `seed${i}.deploy.example.com`)).toBe(true);
    process.kill(-first.pid!, 'SIGTERM');
    await until('the first boot to be gone', 30_000, async () => (groupMembers(first.pid!).length === 0 ? true : null));

    // The mirror: a backup of the stopped leader, restored, following the leader's telepath URL.
    const backup = await run(['-c', 'cortex00.yaml', 'backup', '--cold', '--json']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    const backupDir = JSON.parse(backup.stdout.trim().split('\n').at(-1)!).dir as string;
    expect((await run(['restore', backupDir, dirs.cortex01])).exitCode).toBe(0);
    writeFileSync(path.join(dirs.cortex01, 'cell.yaml'), cellYaml('cortex01', `mirror: tcp://root:secret@127.0.0.1:${ports.cortex00.dmon}/\n`));
    for (const name of ['cortex00', 'cortex01']) {
      const started = await run(['-c', `${name}.yaml`, 'start', '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      groups.push(JSON.parse(started.stdout).pid);
    }
    expect(await isActive(cortex01)).toBe(false);
    await until('the mirror to have the seed nodes', 60_000, async () => ((await nodesUnder(cortex01, 'deploy.example.com')).length === 5 ? true : null));

    writeFileSync(
      path.join(work, 'deployment.yaml'),
      stringify({
        name: 'lab',
        state: { dir: './state' },
        mirror: {
          nexusIndex: ['/usr/bin/python3', '-c', NEXUS_INDEX, 'cell://{dir}/'],
          promote: ['/usr/bin/python3', '-m', 'synapse.tools.service.promote', '--svcurl', 'cell://{dir}/', '--failure'],
          promotion: 'failure',
          env: { PYTHONPATH: pythonPath },
          catchUpTimeout: '120s',
        },
        services: [
          { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', url: `tcp://root:secret@127.0.0.1:${ports.cortex00.dmon}/` },
          { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00', url: `tcp://root:secret@127.0.0.1:${ports.cortex01.dmon}/` },
        ],
      }),
    );
    return { run, cortex00, cortex01 };
  }

  /** The deployment's end state: versions, roles, every acknowledged write on the new leader and its mirror. */
  async function expectDeployed(l: Awaited<ReturnType<typeof lane>>, acked: { name: string }[]) {
    const status = JSON.parse((await l.run(['deploy', 'status', '--json'])).stdout);
    for (const s of status.services) if (s.pid) groups.push(s.pid);
    expect(status.services).toEqual([
      { name: 'cortex00', version: '2.250.0', role: 'mirror of cortex01' },
      { name: 'cortex01', version: '2.250.0', role: 'leader' },
    ]);
    expect(await isActive(l.cortex01)).toBe(true);
    expect(await isActive(l.cortex00)).toBe(false);
    const onLeader = await nodesUnder(l.cortex01, 'deploy.example.com');
    expect(acked.map((a) => a.name).filter((n) => !onLeader.includes(n))).toEqual([]);
    await until('the old leader to replicate every write', 60_000, async () => ((await nodesUnder(l.cortex00, 'deploy.example.com')).length === onLeader.length ? true : null));
  }

  it('upgrades the mirror, promotes it, upgrades the old leader as its mirror; writes made meanwhile are all on the new leader', async () => {
    const l = await lane();
    const plan = await l.run(['deploy', 'plan', '--to', '2.250.0', '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).services.map((s: { name: string; migrations: unknown[] }) => [s.name, s.migrations.length > 0])).toEqual([['cortex01', true], ['cortex00', true]]);

    // A client writing a node every 100 ms to whichever Cortex acknowledged last, throughout the deployment.
    const writer = writeThroughout([l.cortex00, l.cortex01], 'deploy.example.com');
    const deployed = await l.run(['deploy', 'upgrade', '--to', '2.250.0', '--backup', '-y']);
    const { acked, failed, longestGap: gap } = await writer.stop();
    expect(deployed.exitCode, deployed.stderr.slice(-4000)).toBe(0);
    for (const pid of [...deployed.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    await expectDeployed(l, acked);
    const promotion = /\[deploy\/promote:cortex01\] done: (.*)/.exec(deployed.stderr)?.[1];
    expect(promotion).toMatch(/^Storm warmed \(answers 2\.250\.0\) in \d+ ms; .*migration step\(s\) ran on the new leader and finished/);
    // Issue 21 item 7: the old leader's stop ends once its data is closed, as after a graceful hand-off.
    const stop = /cortex00 stopped in (\d+) ms \(its data closed, the rest of its exit cut short\) at nexus index .*no leader for (\d+) ms/.exec(promotion ?? '');
    expect(stop, promotion).not.toBeNull();
    console.log(`real Cortex deployment 2.242.0 → 2.250.0: ${acked.length} writes acknowledged (all on the new leader and its mirror), ${failed} failed, longest gap ${gap} ms; old leader's stop ${stop![1]} ms, no leader for ${stop![2]} ms; promotion: ${promotion}`);

    for (const name of ['cortex00', 'cortex01']) expect((await l.run(['-c', `${name}.yaml`, 'stop'])).exitCode).toBe(0);
  }, 900_000);

  it('synup killed between the old leader\'s stop and the promotion: status says the leader is stopped; `deploy resume -y` reads its files and promotes the mirror', async () => {
    const l = await lane();
    const writer = writeThroughout([l.cortex00, l.cortex01], 'deploy.example.com');
    const killed = await l.run(['deploy', 'upgrade', '--to', '2.250.0', '--backup', '-y'], { SYNUP_CRASH_AT: 'promote:cortex01@leader-stopped' });
    expect(killed.signal, killed.stderr.slice(-4000)).toBe('SIGKILL');
    for (const pid of [...killed.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    // No leader now: the old one stopped, the mirror passive.
    await expect(isActive(l.cortex00)).rejects.toThrow();
    expect(await isActive(l.cortex01)).toBe(false);
    const status = JSON.parse((await l.run(['deploy', 'status', '--json'])).stdout);
    expect(status.services).toEqual([
      { name: 'cortex00', version: '2.242.0', role: 'stopped', journalRole: 'leader' },
      { name: 'cortex01', version: '2.250.0', role: 'mirror of cortex00' },
    ]);
    const resumedAt = Date.now();
    // The README's `deploy resume -y`: the run's --backup is in its journal (item 17).
    const resumed = await l.run(['deploy', 'resume', '-y']);
    const { acked, failed, longestGap } = await writer.stop();
    expect(resumed.exitCode, resumed.stderr.slice(-4000)).toBe(0);
    for (const pid of [...resumed.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    const promotion = /\[deploy\/promote:cortex01\] done: (.*)/.exec(resumed.stderr)?.[1];
    // Promoted at once when the mirror has every entry in the stopped leader's files, else after starting it again.
    expect(resumed.stderr).toMatch(/^\[deploy\/promote:cortex01\] (done: .*)?cortex00 was already stopped \(synup stopped during the promotion\)/m);
    await expectDeployed(l, acked);
    console.log(`real Cortex, synup SIGKILLed after the old leader's stop: resume took ${Date.now() - resumedAt} ms; ${acked.length} writes acknowledged, ${failed} failed (no leader until the resume), longest gap ${longestGap} ms; promotion: ${promotion}`);

    for (const name of ['cortex00', 'cortex01']) expect((await l.run(['-c', `${name}.yaml`, 'stop'])).exitCode).toBe(0);
  }, 900_000);
});
