// A real Synapse 2.250.0 Cortex (the lab's upstream source) that lost its lock on cell.guid: its live backup
// (Cell._execBackupTask copies cell.guid with shutil.copy inside the running process) closes a descriptor of the
// file, and closing any descriptor of a file drops the process's lockf locks on it. The Cortex runs on without the
// lock; synup still finds it (its envs held, cell.guid open), refuses a second instance and stops it.
// SYN_LAB: the lab dir (setup.sh); run-cortex.sh: see runCortexScript in helpers.ts.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { findHolders } from '../../src/lmdb/holders.js';
import { runCortexScript, synup, tempDir } from '../support/helpers.js';
import { api, groupMembers, killGroups, LAB, labSkipReason, labSynupConfig, until } from '../support/lab-cortex.js';

if (labSkipReason) console.warn(`real-Cortex held tests skipped: ${labSkipReason}`);

/** Lines of /proc/locks naming this file's inode (any lock, by anyone). */
function procLocksOn(file: string): string[] {
  const { ino } = statSync(file);
  return readFileSync('/proc/locks', 'utf8').split('\n').filter((line) => line.trim().split(/\s+/)[5]?.endsWith(`:${ino}`));
}

describe.skipIf(labSkipReason !== null)('real Cortex without its cell.guid lock (after a live backup)', () => {
  const groups: number[] = [];
  afterEach(() => killGroups(groups.splice(0)));

  it('a live backup drops the lock; status still says running (pid), start refuses a second instance, stop adopts and stops it', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-held-');
    const cellDir = path.join(work, 'cortex00');
    mkdirSync(cellDir);
    const port = 31100 + 2 * Math.floor(Math.random() * 150);
    writeFileSync(path.join(cellDir, 'cell.yaml'), stringify({ 'https:port': port, 'auth:passwd': 'secret', 'dmon:listen': `tcp://127.0.0.1:${port + 1}/`, 'backup:dir': path.join(work, 'live-backups') }));
    writeFileSync(
      path.join(work, 'synup.yaml'),
      stringify(labSynupConfig(lab, 'cortex00', { port, startTimeout: '150s' })),
    );
    const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '' }, timeout: 120_000 });
    const json = async (args: string[]) => JSON.parse((await run(args)).stdout);

    // `run-cortex.sh … > cortex.log 2>&1 &` with job control: the Cortex leads its own process group
    const fd = openSync(path.join(work, 'cortex.log'), 'a');
    const byHand = spawn(runCortexScript, [path.join(lab, 'src-v2.250.0'), cellDir], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    groups.push(byHand.pid!);
    const guidFile = path.join(cellDir, 'cell.guid');
    await until('the hand-started Cortex to be active', 180_000, async () => ((await json(['status', '--json'])).active?.active === true ? true : null));
    expect(procLocksOn(guidFile).map((line) => line.trim().split(/\s+/).slice(1, 5).join(' '))).toEqual([`POSIX ADVISORY WRITE ${byHand.pid}`]);

    const backup = await api({ dir: cellDir, port }, 'POST', '/api/v1/storm/call', { query: 'return($lib.backup.run(name=live0, wait=$lib.true))' }, 120_000);
    expect(JSON.parse(backup.text)).toEqual({ status: 'ok', result: 'live0' });
    expect(readFileSync(path.join(work, 'live-backups', 'live0', 'cell.guid'), 'utf8')).toBe(readFileSync(guidFile, 'utf8'));
    expect(procLocksOn(guidFile)).toEqual([]); // the Cortex runs on without its lock
    expect((await findHolders(cellDir)).filter((h) => h.pid === byHand.pid).length).toBeGreaterThan(0); // its envs

    const started = Date.now();
    const status = await json(['status', '--json']);
    console.log(`real Cortex without its lock: synup status took ${Date.now() - started} ms (CLI process included)`);
    expect(status).toMatchObject({ running: true, pid: byHand.pid, dataVersion: '2.250.0', active: { active: true } });
    expect(status.detail).toMatch(/^cell\.guid is not locked but held open with the cell's LMDB envs \(pid \d+ \(python3, .*cell\.guid open, not locked\);/);

    const second = await run(['start']);
    expect(second.exitCode).toBe(3);
    expect(second.stderr.split('\n')[0]).toMatch(/^synup: cortex00 is already running: cell\.guid is not locked/);

    const stopped = await run(['stop', '--json']);
    expect(stopped.stderr).toBe('');
    expect(JSON.parse(stopped.stdout)).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    console.log(`real Cortex without its lock: adopted and stopped by synup in ${JSON.parse(stopped.stdout).durationMs} ms`);
    await until('the hand-started group to be gone', 10_000, async () => (groupMembers(byHand.pid!).length === 0 ? true : null));
    expect(await findHolders(cellDir)).toEqual([]);
  }, 300_000);
});
