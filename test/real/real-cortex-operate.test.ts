// Operating a real Synapse Cortex (the lab's upstream source): started by hand with run-cortex.sh, as an operator's
// is on day one, then found, health-checked with Synapse's own healthcheck tool (no HTTPS), adopted, its log read,
// stopped with its whole process group, started again by synup and upgraded 2.242.0 → 2.250.0 with that health
// check. Kept to one lean test (three Cortex boots).
// SYN_LAB: the lab dir (setup.sh); run-cortex.sh: see runCortexScript in helpers.ts (SYN_LAB_RUN_CORTEX, else
// ../shared/synapse-lab/ beside the repo or, in a git worktree, beside its main checkout).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { findHolders } from '../../src/lmdb/holders.js';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { groupMembers, killGroups, LAB, labPythonPath, labSkipReason, labSynupConfig, until } from '../support/lab-cortex.js';

if (labSkipReason) console.warn(`real-Cortex operate tests skipped: ${labSkipReason}`);

describe.skipIf(labSkipReason !== null)('real Cortex: adopt, health by healthcheck tool, stop, start, upgrade (process adapter)', () => {
  const groups: number[] = [];
  afterAll(async () => {
    killGroups(groups);
  });

  it('a Cortex started by hand is found, healthy over its Unix socket, adopted, stopped with its whole group, started by synup, upgraded', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-operate-');
    const cellDir = path.join(work, 'cortex00');
    mkdirSync(cellDir);
    const port = 25000 + Math.floor(Math.random() * 400);
    writeFileSync(path.join(cellDir, 'cell.yaml'), `https:port: ${port}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${port + 500}/\n`);
    writeFileSync(
      path.join(work, 'synup.yaml'),
      stringify(labSynupConfig(lab, 'cortex00',
        { check: 'tool', startTimeout: '150s', tool: { command: ['/usr/bin/python3', '-m', 'synapse.tools.service.healthcheck', '-c', '{cell}'], env: { PYTHONPATH: labPythonPath(lab, '2.250.0') }, timeout: '30s' } },
        { backup: { dir: './backups', maxAge: '1h' } })),
    );
    const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '' }, timeout: 240_000 });

    // `run-cortex.sh … > cortex.log 2>&1 &` with job control: the Cortex leads its own process group
    const log = path.join(work, 'cortex.log');
    const fd = openSync(log, 'a');
    const byHand: ChildProcess = spawn(runCortexScript, [path.join(lab, 'src-v2.242.0'), cellDir], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    groups.push(byHand.pid!);

    const status = await until('the hand-started Cortex to be healthy', 180_000, async () => {
      const result = await run(['status', '--json']);
      const parsed = result.exitCode === 0 ? JSON.parse(result.stdout) : null;
      return parsed?.active?.active === true ? parsed : null;
    });
    expect(status).toMatchObject({ running: true, pid: byHand.pid, dataVersion: '2.242.0', active: { detail: 'nominal', trust: 'not used (health.check: tool)' } });
    expect(status.detail).toContain('synup adopt');
    expect(groupMembers(byHand.pid!).length).toBeGreaterThan(1); // drive workers, resource tracker

    const adopted = await run(['adopt', '--json']);
    expect(adopted.stderr).toBe('');
    expect(JSON.parse(adopted.stdout)).toMatchObject({ adopted: true, pid: byHand.pid });

    const logs = await run(['logs', '-n', '3']);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout.split('\n')).toEqual(readFileSync(log, 'utf8').trimEnd().split('\n').slice(-3));

    const stopped = await run(['stop', '--json']);
    expect(stopped.stderr).toBe('');
    expect(JSON.parse(stopped.stdout)).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    await until('the hand-started group to be gone', 10_000, async () => (groupMembers(byHand.pid!).length === 0 ? true : null));
    expect(await findHolders(cellDir)).toEqual([]);

    const started = await run(['start', '--json']);
    expect(started.stderr).toBe('');
    expect(started.exitCode).toBe(0);
    const s = JSON.parse(started.stdout);
    expect(s).toMatchObject({ action: 'start', version: '2.242.0' });
    groups.push(s.pid);
    console.log(`real Cortex 2.242.0 started by synup: healthy (healthcheck tool) after ${s.activeAfterMs} ms`);

    expect((await run(['backup'])).exitCode).toBe(0);
    const upgraded = await run(['upgrade', '--to', '2.250.0', '-y', '--json']);
    const events = upgraded.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const summary = events.find((e) => e.type === 'summary');
    expect(summary).toMatchObject({ outcome: 'done', from: '2.242.0', to: '2.250.0' });
    expect(upgraded.exitCode).toBe(0);
    expect(groupMembers(s.pid)).toEqual([]); // the 2.242.0 group, stopped by the upgrade
    const after = JSON.parse((await run(['status', '--json'])).stdout);
    expect(after).toMatchObject({ running: true, dataVersion: '2.250.0', configuredVersion: '2.250.0', active: { active: true, detail: 'nominal' } });
    groups.push(after.pid);
    console.log(`real Cortex 2.242.0 → 2.250.0 (adopted history, health.check: tool): downtime ${summary.downtimeMs} ms`);

    const again = await run(['stop', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ wasRunning: true, forced: false });
    console.log(`real Cortex stopped by synup in ${JSON.parse(again.stdout).durationMs} ms (first, adopted: ${JSON.parse(stopped.stdout).durationMs} ms)`);
    await until('the synup-started group to be gone', 10_000, async () => (groupMembers(after.pid).length === 0 ? true : null));
    expect(await findHolders(cellDir)).toEqual([]);
  }, 420_000);
});
