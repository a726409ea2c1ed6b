// The production path of a mirrored Cortex upgrade on the lab's real Synapse: an AHA server (2.250.0 from the
// start: the devops guide upgrades AHA first), a 2.242.0 Cortex leader and its mirror provisioned through it
// (`synapse.tools.aha.provision.service`, `aha:provision:`), upgraded to 2.250.0 by `synup deploy upgrade` with the
// default graceful promotion (`synapse.tools.service.promote` without --failure: Synapse's own hand-off, the old
// leader turned into a mirror of the new one by the leader itself) while a client writes nodes. In the same run a
// plain Cortex with the same seed data is upgraded by `synup upgrade` under the same client: its longest gap is the
// single-cell downtime the mirrored upgrade is measured against (issue 13's goal: ≤ 10% of it). Loopback only, but for
// Synapse's HTTPS listener, which has no host setting (0.0.0.0).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { groupsUnder, isActive, killGroups, LAB, labPythonPath, labSkipReason, NEXUS_INDEX, nodesUnder, seedNodes, until, writeNode, writeThroughout } from '../support/lab-cortex.js';
import { labSpawner, startAhaPair } from '../support/lab-aha.js';

if (labSkipReason) console.warn(`real-Cortex AHA deployment test skipped: ${labSkipReason}`);

const FROM = '2.242.0';
const TO = '2.250.0';
const SEEDS = 5;
/** More data for both cells (bench/deploy-writes-real.mjs sets it): one Storm loop of that many nodes each. */
const BULK = Number(process.env.SYNUP_BENCH_SEED_NODES ?? 0);

describe.skipIf(labSkipReason !== null)('real Cortex behind AHA: graceful promotion, 2.242.0 → 2.250.0', () => {
  const groups: number[] = [];
  let work = '';
  // Every group started here: by the test, by synup (start, upgrade) — whatever names the work dir.
  afterEach(() => killGroups([...groups, ...(work ? groupsUnder(work) : [])]));

  it('upgrades the mirror, hands leadership off through AHA, upgrades the old leader as its mirror; no failed write, a gap below a single-cell upgrade', async () => {
    const lab = LAB!;
    work = tempDir('synup-aha-deploy-');
    const base = 30000 + Math.floor(Math.random() * 95) * 10;
    const start = labSpawner(work, { ...process.env, PYTHONPATH: labPythonPath(lab, TO) }, groups);
    const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '', SYNUP_HEALTH_PASSWORD: 'secret' }, timeout: 600_000 });

    // The plain Cortex of the baseline boots while AHA and the pair come up.
    const single = { dir: path.join(work, 'single'), port: base + 7, dmon: base + 8 };
    mkdirSync(single.dir);
    writeFileSync(path.join(single.dir, 'cell.yaml'), stringify({ 'https:port': single.port, 'auth:passwd': 'secret', 'dmon:listen': `tcp://127.0.0.1:${single.dmon}/` }));
    start('single-first', runCortexScript, [path.join(lab, `src-v${FROM}`), single.dir]);
    const { aha, leader: cortex00, mirror: cortex01, leaderProcess } = await startAhaPair({
      lab, work, base, version: FROM, ahaVersion: TO, groups,
      seed: async (leader) => {
        for (let i = 0; i < SEEDS; i++) expect(await writeNode(leader, `seed${i}.deploy.example.com`)).toBe(true);
        if (BULK) await seedNodes(leader, 'bulk.example.com', BULK);
      },
    });
    await until('the plain 2.242.0 Cortex to be active', 180_000, async () => ((await isActive(single)) ? true : null));
    for (let i = 0; i < SEEDS; i++) expect(await writeNode(single, `seed${i}.single.example.com`)).toBe(true);
    if (BULK) await seedNodes(single, 'bulk.example.com', BULK);
    await until('the mirror to have the seed nodes', 180_000, async () => ((await nodesUnder(cortex01, 'deploy.example.com')).length === SEEDS ? true : null));
    expect(readFileSync(path.join(cortex01.dir, 'cell.yaml'), 'utf8')).toContain('mirror: aha://root@cortex...');
    const cortexes = { cortex00, cortex01, single };
    for (const name of ['cortex00', 'cortex01', 'single'] as const) {
      writeFileSync(path.join(work, `${name}.yaml`), stringify({
        cell: { name, dir: `./${name}`, role: name === 'cortex01' ? 'mirror' : 'leader' },
        state: { dir: './state' },
        changelog: path.join(lab, `src-v${TO}`, 'CHANGELOG.rst'),
        backup: { dir: `./backups/${name}`, maxAge: '1h' },
        service: { adapter: 'process', stopTimeout: '30s', process: { command: [runCortexScript, `${lab}/src-v{version}`, '{dir}'] } },
        health: { port: cortexes[name].port, startTimeout: '150s' },
      }));
    }
    // The mirror's clone was a live Synapse backup of the leader, which copies cell.guid inside the leader's process and
    // so drops its lock on it: synup still finds the leader it did not start (its envs and cell.guid open) and adopts it.
    const leaderStatus = JSON.parse((await run(['-c', 'cortex00.yaml', 'status', '--json'])).stdout);
    expect(leaderStatus).toMatchObject({ running: true, pid: leaderProcess.pid });

    // Baseline: the single-cell upgrade (the plain Cortex started by hand is adopted, stopped, upgraded, started).
    const singleWriter = writeThroughout([single], 'single.example.com');
    const singleRun = await run(['-c', 'single.yaml', 'upgrade', '--to', TO, '--backup', '-y']);
    const baseline = await singleWriter.stop();
    expect(singleRun.exitCode, singleRun.stderr.slice(-3000)).toBe(0);
    for (const pid of [...singleRun.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    expect((await run(['-c', 'single.yaml', 'stop'])).exitCode).toBe(0);

    writeFileSync(path.join(work, 'deployment.yaml'), stringify({
      name: 'lab-aha',
      state: { dir: './state' },
      // plan and upgrade first check the file's roles against AHA's
      aha: { url: aha.url, command: ['/usr/bin/python3', '-c', '{script}', '{url}'], env: { PYTHONPATH: labPythonPath(lab, TO) }, timeout: '60s' },
      mirror: {
        nexusIndex: ['/usr/bin/python3', '-c', NEXUS_INDEX, 'cell://{dir}/'],
        promote: ['/usr/bin/python3', '-m', 'synapse.tools.service.promote', '--svcurl', 'cell://{dir}/'],
        env: { PYTHONPATH: labPythonPath(lab, TO) },
        catchUpTimeout: '120s',
      },
      services: [
        { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml' },
        { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00' },
      ],
    }));
    const writer = writeThroughout([cortex00, cortex01], 'deploy.example.com');
    const deployed = await run(['deploy', 'upgrade', '--to', TO, '--backup', '-y']);
    const mirrored = await writer.stop();
    for (const pid of [...deployed.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    expect(deployed.exitCode, deployed.stderr.slice(-4000)).toBe(0);
    const status = JSON.parse((await run(['deploy', 'status', '--json'])).stdout);
    // The file's roles after the run, and AHA's, agree: the hand-off swapped them.
    expect(status.services).toEqual([
      { name: 'cortex00', version: TO, role: 'mirror of cortex01', aha: expect.objectContaining({ name: '00.cortex.synapse', role: 'mirror', leader: '01.cortex.synapse', ready: true }) },
      { name: 'cortex01', version: TO, role: 'leader', aha: expect.objectContaining({ name: '01.cortex.synapse', role: 'leader', ready: true }) },
    ]);
    // Synapse's hand-off, not synup, pointed the old leader at the new one: through AHA's leader alias.
    expect(readFileSync(path.join(cortex00.dir, 'cell.mods.yaml'), 'utf8')).toContain('mirror: aha://root@cortex...');
    expect(await isActive(cortex01)).toBe(true);
    expect(await isActive(cortex00)).toBe(false);
    const promotion = /\[deploy\/promote:cortex01\] done: (.*)/.exec(deployed.stderr)?.[1];
    expect(promotion).toMatch(/promoted in \d+ ms \(hand-off\).*migration step\(s\) ran on the new leader and finished/);

    const onLeader = await nodesUnder(cortex01, 'deploy.example.com');
    expect(mirrored.acked.map((a) => a.name).filter((n) => !onLeader.includes(n))).toEqual([]);
    await until('the old leader to replicate every write', 60_000, async () => ((await nodesUnder(cortex00, 'deploy.example.com')).length === onLeader.length ? true : null));
    const ratio = mirrored.longestGap / baseline.longestGap;
    const journal = JSON.parse(readFileSync(path.join(work, 'state', 'deployments', 'lab-aha.json'), 'utf8')) as { phases: Record<string, { startedAt: string; endedAt: string }> };
    console.log(Object.entries(journal.phases).map(([id, p]) => `${id}: ${p.startedAt.slice(11, 23)} → ${p.endedAt.slice(11, 23)}`).join('\n'));
    console.log(`during the deployment's longest gap:\n  ${mirrored.gapAttempts.join('\n  ')}`);
    console.log(
      `AHA deployment ${FROM} → ${TO}: ${mirrored.acked.length} writes acknowledged (all on the new leader and its mirror), ${mirrored.failed} failed, ` +
        `longest gap ${mirrored.longestGap} ms; single-cell upgrade of the same seed data: ${baseline.acked.length} acknowledged, ${baseline.failed} failed, ` +
        `longest gap ${baseline.longestGap} ms; ratio ${(ratio * 100).toFixed(1)}% (goal ≤ 10%); promotion: ${promotion}`,
    );
    // The goal (≤ 10 %) is measured by bench/deploy-writes-real.mjs, which runs this test several times and reads this
    // report; a test asserts behaviour, not timing: no write failed outright, and the gap is below the single-cell one.
    if (process.env.SYNUP_GAP_REPORT) {
      appendFileSync(process.env.SYNUP_GAP_REPORT, JSON.stringify({
        mirrored: { longestGapMs: mirrored.longestGap, acked: mirrored.acked.length, failed: mirrored.failed, gapAttempts: mirrored.gapAttempts },
        single: { longestGapMs: baseline.longestGap, acked: baseline.acked.length, failed: baseline.failed },
        promotion,
        seedNodes: SEEDS + BULK,
      }) + '\n');
    }
    expect(mirrored.failed).toBe(0);
    expect(mirrored.longestGap).toBeLessThan(baseline.longestGap);

    for (const name of ['cortex00', 'cortex01']) expect((await run(['-c', `${name}.yaml`, 'stop'])).exitCode).toBe(0);
  }, 600_000);
});
