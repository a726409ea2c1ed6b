// Issue 21 on the real Cortex of the lab: one run per cell whatever config reaches it, what answers must be what synup
// started (item 3), and `start` noticing at once that the Cortex exited, with its last error line (item 5).
// SYN_LAB: the lab dir (setup.sh); run-cortex.sh: see runCortexScript in helpers.ts.
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCortexScript, synupBin, tempDir } from '../support/helpers.js';
import { groupsUnder, killGroups, LAB, labPythonPath, labSkipReason, labSynupConfig, until } from '../support/lab-cortex.js';

if (labSkipReason) console.warn(`real-Cortex cell-safety tests skipped: ${labSkipReason}`);

const toolHealth = (lab: string, startTimeout: string) => ({
  check: 'tool',
  startTimeout,
  tool: { command: ['/usr/bin/python3', '-m', 'synapse.tools.service.healthcheck', '-c', '{cell}'], env: { PYTHONPATH: labPythonPath(lab, '2.250.0') }, timeout: '30s' },
});

const runIn = (cwd: string, args: string[]) =>
  execa(process.execPath, [synupBin, ...args], { cwd, env: { NO_COLOR: '1', CI: 'true', PATH: process.env.PATH ?? '' }, reject: false, stdin: 'ignore', timeout: 300_000 });

/** A real cell at 2.242.0 in `<work>/cortex00`: booted once by hand (as an operator's is on day one), then stopped by synup. */
async function bootedCell(lab: string, work: string, startTimeout: string): Promise<{ cellDir: string; port: number }> {
  const cellDir = path.join(work, 'cortex00');
  mkdirSync(cellDir);
  const port = 25400 + Math.floor(Math.random() * 400);
  writeFileSync(path.join(cellDir, 'cell.yaml'), `https:port: ${port}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${port + 500}/\n`);
  writeFileSync(path.join(work, 'synup.yaml'), stringify(labSynupConfig(lab, 'cortex00', toolHealth(lab, startTimeout), { backup: { dir: './backups', maxAge: '1h' } })));
  const fd = openSync(path.join(work, 'by-hand.log'), 'a');
  spawn(runCortexScript, [path.join(lab, 'src-v2.242.0'), cellDir], { detached: true, stdio: ['ignore', fd, fd] }).unref();
  closeSync(fd);
  await until('the hand-started Cortex to be healthy', 180_000, async () => {
    const result = await runIn(work, ['status', '--json']);
    return result.exitCode === 0 && JSON.parse(result.stdout)?.active?.active === true ? true : null;
  });
  const stopped = await runIn(work, ['stop']);
  expect(stopped.exitCode, stopped.stderr).toBe(0);
  return { cellDir, port };
}

describe.skipIf(labSkipReason !== null)('real Cortex: the cell owns its run lock; start notices an exit at once (issue 21 items 3, 5)', () => {
  const works: string[] = [];
  afterAll(() => {
    for (const work of works) killGroups(groupsUnder(work));
  });

  it('item 3: a second config (own state dir, the cell through a symlink) is refused while the first runs; a started process that detaches is not taken for the service', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-lock-');
    works.push(work);
    const { cellDir } = await bootedCell(lab, work, '180s');
    symlinkSync(cellDir, path.join(work, 'link00'));
    mkdirSync(path.join(work, 'b'));
    writeFileSync(path.join(work, 'b', 'synup.yaml'), stringify({ ...labSynupConfig(lab, 'cortex00', toolHealth(lab, '180s')), cell: { name: 'cortex00', dir: '../link00' } }));

    // The first config starts the Cortex; while it waits for health, the second config tries to start it too.
    const first = runIn(work, ['start', '--json']);
    await until('the first start to have spawned the Cortex', 60_000, async () => {
      const record = JSON.parse(readFileSync(path.join(work, 'state', 'cortex00.pid'), 'utf8')) as { version: string | null; stoppedAt?: string };
      return record.version === '2.242.0' && !record.stoppedAt ? true : null;
    });
    const second = await runIn(path.join(work, 'b'), ['start']);
    expect(second.stderr).toMatch(/locked by synup start \(pid \d+, run start-\d+, state dir .*\/state, since/);
    expect(second.exitCode).toBe(3);
    const started = await first;
    expect(started.exitCode, started.stderr).toBe(0);

    expect((await runIn(work, ['backup'])).exitCode).toBe(0);
    // 2.250.0's "start" detaches the Cortex in a session of its own (setsid -f), waits until it listens, and stays:
    // what answers is not what synup started (as when another config's instance serves the cell). confirm refuses it,
    // and the rollback's stop must stop the detached Cortex too (it holds the cell), not only the launcher.
    const launcher = path.join(work, 'launch.sh');
    writeFileSync(launcher, [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      `if [ "$1" = 2.250.0 ]; then`,
      // Its own log file: synup hands the service a pipe, which outlives no detached process usefully.
      '  log="$(dirname "$2")/detached-2.250.0.log"',
      '  : > "$log"',
      `  setsid -f ${JSON.stringify(runCortexScript)} ${JSON.stringify(lab)}/src-v$1 "$2" >> "$log" 2>&1`,
      '  for _ in $(seq 1 600); do grep -q "https listening" "$log" && exec sleep 900; sleep 0.5; done',
      '  exit 1',
      'fi',
      `exec ${JSON.stringify(runCortexScript)} ${JSON.stringify(lab)}/src-v$1 "$2"`,
      '',
    ].join('\n'));
    chmodSync(launcher, 0o755);
    const yaml = path.join(work, 'synup.yaml');
    const config = labSynupConfig(lab, 'cortex00', toolHealth(lab, '180s'), { backup: { dir: './backups', maxAge: '1h' } });
    writeFileSync(yaml, stringify({ ...config, service: { ...config.service, process: { command: [launcher, '{version}', '{dir}'] } } }));
    const upgraded = await runIn(work, ['upgrade', '--to', '2.250.0', '-y']);
    console.log(`real Cortex, a 2.250.0 start that detached: ${upgraded.stderr.split('\n').find((l) => l.includes('that synup started')) ?? upgraded.stderr}`);
    expect(upgraded.stderr).toMatch(/\[upgrade\/confirm\] failed .*pid \d+ that synup started runs, but cell\.guid is held by pid \d+ \(python3, lock on .*cell\.guid\), which synup did not start/);
    expect(upgraded.stderr).toMatch(/\[upgrade\/start\] rolled-back/);
    expect(upgraded.exitCode, upgraded.stderr).toBe(4);
    const status = JSON.parse((await runIn(work, ['status', '--json'])).stdout);
    expect(status).toMatchObject({ running: true, dataVersion: '2.242.0' });
    expect(status.detail).toMatch(/started 2\.242\.0/);
    expect((await runIn(work, ['stop'])).exitCode).toBe(0);
  }, 900_000);

  it('item 5: start of a cell whose cell.yaml the version rejects fails at once with its error line, not after health.startTimeout', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-exit-');
    works.push(work);
    const { cellDir, port } = await bootedCell(lab, work, '150s');
    writeFileSync(path.join(cellDir, 'cell.yaml'), `https:port: not-a-port\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${port + 500}/\n`);
    const began = Date.now();
    const result = await runIn(work, ['start']);
    const tookMs = Date.now() - began;
    console.log(`real Cortex 2.242.0 with a cell.yaml it rejects: start failed after ${tookMs} ms (health.startTimeout 150 s): ${result.stderr.trim().split('\n')[0]}`);
    expect(result.stderr).toMatch(/cortex00 2\.242\.0 did not start, [\d.]+ m?s after the start: pid \d+ that synup started \(2\.242\.0\) exited with status [1-9]\d*: \S.*/);
    expect(result.exitCode).toBe(1);
    expect(tookMs).toBeLessThan(60_000);
    expect(existsSync(path.join(work, 'state', 'cortex00.pid'))).toBe(true);
  }, 600_000);
});
