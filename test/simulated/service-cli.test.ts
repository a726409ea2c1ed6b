// start | stop | restart | adopt | logs through the CLI, on real sim cells served by the process adapter; the cell
// started by hand (as an operator's is on day one) and then adopted, upgraded, stopped.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { findHolders } from '../../src/lmdb/holders.js';
import { acquireLock, cellLockFile } from '../../src/safety/lock.js';
import { isAlive } from '../../src/proc.js';
import { writeSimServiceConfig } from '../support/upgrade-harness.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';
import { synup, synupBin, tempDir } from '../support/helpers.js';
import { budgetSetting, waitFor } from '../support/budget.js';

const byHand: ChildProcess[] = [];
afterEach(async () => {
  for (const child of byHand.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
});

async function setup(version = '2.180.0') {
  const work = tempDir('synup-operate-');
  const cellDir = path.join(work, 'cortex00');
  const port = await freePort();
  await createSimCell(cellDir, { version, seed: 200 });
  writeSimServiceConfig(work, { port, startTimeout: budgetSetting(20) });
  const run = (args: string[], env: Record<string, string> = {}) => synup(args, { cwd: work, env: { CI: 'true', ...env } });
  return { work, cellDir, port, run, stateDir: path.join(work, 'state') };
}

/** `node cell.js <dir> … > cell.log 2>&1 &` from a shell with job control: its own process group, log in a file. */
async function startByHand(t: { work: string; cellDir: string; port: number }, version: string, options: { faults?: string[]; until?: RegExp } = {}): Promise<{ child: ChildProcess; log: string }> {
  const { faults = [], until = /https listening/ } = options;
  const log = path.join(t.work, 'by-hand.log');
  const fd = openSync(log, 'a');
  const faultArgs = faults.flatMap((fault) => ['--fault', fault]);
  const child = spawn(process.execPath, [SIM_CELL_JS, t.cellDir, '--version', version, '--port', String(t.port), ...faultArgs], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  byHand.push(child);
  await waitFor(() => until.test(readFileSync(log, 'utf8')), `the sim started by hand logs ${until}`, { timeoutMs: 20_000, intervalMs: 100 });
  return { child, log };
}

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

describe('a cell started outside synup', () => {
  it("is found by its lock (held by the cell's own pid), adopted, its log read, upgraded and stopped", async () => {
    const t = await setup();
    const { child, log } = await startByHand(t, '2.180.0');

    const holders = (await findHolders(t.cellDir)).filter((h) => h.kind === 'cell-lock');
    expect(holders.map((h) => h.pid)).toEqual([child.pid]);

    const status = await t.run(['status', '--json']);
    expect(status.exitCode).toBe(0);
    expect(json(status.stdout)).toMatchObject({ running: true, pid: child.pid });
    expect(String(json(status.stdout).detail)).toContain('synup adopt');

    const adopted = await t.run(['adopt', '--json']);
    expect(adopted.stderr).toBe('');
    expect(adopted.exitCode).toBe(0);
    expect(json(adopted.stdout)).toMatchObject({ action: 'adopt', adopted: true, pid: child.pid });
    const record = JSON.parse(readFileSync(path.join(t.stateDir, 'cortex00.pid'), 'utf8'));
    expect(record).toMatchObject({ pid: child.pid, version: null, logFile: log, adopted: { pgid: child.pid } });
    expect(String(json((await t.run(['status', '--json'])).stdout).detail)).toMatch(new RegExp(`^pid ${child.pid} adopted at .* \\(started by something else: .*cell\\.js ${t.cellDir} `));

    const logs = await t.run(['logs', '-n', '2']);
    expect(logs.exitCode).toBe(0);
    expect(logs.stdout.trimEnd().split('\n')).toEqual(readFileSync(log, 'utf8').trimEnd().split('\n').slice(-2));

    const twice = await t.run(['start']);
    expect(twice.exitCode).toBe(3);
    expect(twice.stderr).toMatch(/already running/);

    const backup = await t.run(['backup']);
    expect(backup.exitCode).toBe(0);
    const upgraded = await t.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(upgraded.stderr).toMatch(/completed/);
    expect(upgraded.exitCode).toBe(0);
    expect(isAlive(child.pid!)).toBe(false);

    const after = json((await t.run(['status', '--json'])).stdout);
    expect(after).toMatchObject({ running: true, configuredVersion: '2.182.0' });
    expect(after.pid).not.toBe(child.pid);

    const stopped = await t.run(['stop', '--json']);
    expect(stopped.exitCode).toBe(0);
    expect(json(stopped.stdout)).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    expect(await findHolders(t.cellDir)).toEqual([]);
  });

  it('upgrade adopts it by itself (no `synup adopt` first) and stops it; status, then resume, work from any directory with SYNUP_CONFIG', async () => {
    const t = await setup();
    const { child } = await startByHand(t, '2.180.0');
    expect((await t.run(['backup'])).exitCode).toBe(0);
    const upgraded = await t.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(upgraded.stderr).toMatch(/\[upgrade\/stop\] completed/);
    expect(upgraded.exitCode).toBe(0);
    expect(isAlive(child.pid!)).toBe(false);
    expect(child.exitCode ?? (await new Promise((resolve) => child.once('exit', resolve)))).toBe(0); // SIGTERM: a graceful stop

    const elsewhere = (args: string[]) => synup(args, { cwd: '/', env: { CI: 'true', SYNUP_CONFIG: path.join(t.work, 'synup.yaml') } });
    const status = await elsewhere(['status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ cell: { dir: t.cellDir }, running: true, configuredVersion: '2.181.0', dataVersion: '2.181.0' });
    const resumed = await elsewhere(['resume', '--json']);
    expect(resumed.exitCode).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: false, outcome: 'done' });
    expect((await t.run(['stop'])).exitCode).toBe(0);
  });

  it('stops an adopted cell that does not lead its process group by its pid alone (the group is its starter\'s)', async () => {
    const t = await setup();
    const log = path.join(t.work, 'in-our-group.log');
    const fd = openSync(log, 'a');
    // not detached: the sim shares this test process's group, which synup must never signal
    const child = spawn(process.execPath, [SIM_CELL_JS, t.cellDir, '--version', '2.180.0', '--port', String(t.port)], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    try {
      await waitFor(() => /https listening/.test(readFileSync(log, 'utf8')), 'the sim in our group listens', { timeoutMs: 20_000, intervalMs: 100 });
      const stopped = await t.run(['stop', '--json']);
      expect(stopped.stderr).toBe('');
      expect(json(stopped.stdout)).toMatchObject({ wasRunning: true, forced: false });
      const record = JSON.parse(readFileSync(path.join(t.stateDir, 'cortex00.pid'), 'utf8'));
      expect(record.adopted.pgid).not.toBe(child.pid);
      expect(await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('logs of an adopted cell writing to a pipe: exit 1, says so, with what to do', async () => {
    const t = await setup();
    const child = spawn(process.execPath, [SIM_CELL_JS, t.cellDir, '--version', '2.180.0', '--port', String(t.port)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    byHand.push(child);
    await new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => /https listening/.test(String(chunk)) && resolve()));
    expect((await t.run(['adopt'])).exitCode).toBe(0);
    const logs = await t.run(['logs']);
    expect(logs.exitCode).toBe(1);
    expect(logs.stderr).toBe(`synup: pid ${child.pid} (adopted) does not write its log to a file synup can read\n  fix: read it where its starter sends it (a terminal, a pipe, the journal), or restart it with \`synup restart\` so synup keeps its log`);
  });

  it('refuses to adopt a lock holder whose command line does not name the cell dir (exit 3, nothing recorded)', async () => {
    const t = await setup();
    const holder = spawn('flock', ['--exclusive', path.join(t.cellDir, 'cell.guid'), 'sleep', '30'], { detached: true, stdio: 'ignore' });
    byHand.push(holder);
    await waitFor(async () => (await findHolders(t.cellDir)).length > 0, 'flock holds cell.guid', { intervalMs: 100 });
    const result = await t.run(['adopt']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/command line does not name .*cortex00/);
    expect(existsSync(path.join(t.stateDir, 'cortex00.pid'))).toBe(false);
  });
});

describe('a running cell without its lock on cell.guid (as a real Cortex after a live backup)', () => {
  it('is still running to status, start refuses a second instance, restore --replace and backup --cold refuse (exit 3, nothing changed), stop adopts and stops it', async () => {
    const t = await setup();
    const { child } = await startByHand(t, '2.180.0', { faults: ['drop-lock'], until: /fault drop-lock/ });
    expect((await findHolders(t.cellDir)).filter((h) => h.kind === 'cell-lock')).toEqual([]);

    const status = json((await t.run(['status', '--json'])).stdout);
    expect(status).toMatchObject({ running: true, pid: child.pid, active: { active: true } });
    expect(String(status.detail)).toMatch(/^cell\.guid is not locked but held open with the cell's LMDB envs \(pid \d+ \(node, .*cell\.guid open, not locked\);/);

    const second = await t.run(['start']);
    expect(second.exitCode).toBe(3);
    expect(second.stderr.split('\n')[0]).toMatch(/^synup: cortex00 is already running: cell\.guid is not locked/);

    const backup = await t.run(['backup', '--json']); // hot: allowed while the cell runs
    expect(backup.exitCode).toBe(0);
    const backupDir = String(json(backup.stdout).dir);
    const before = fileDigests(t.cellDir);
    const restore = await t.run(['restore', backupDir, t.cellDir, '--replace']);
    expect(restore.exitCode).toBe(3);
    expect(restore.stderr.split('\n')[0]).toMatch(new RegExp(`^synup: restore refused: .*pid ${child.pid} \\(node, reader of .*lock\\.mdb( and \\d+ more files?)?\\).* still holds? ${t.cellDir}; nothing was changed$`));
    const cold = await t.run(['backup', '--cold', t.cellDir, path.join(t.work, 'cold')]);
    expect(cold.exitCode).toBe(3);
    expect(cold.stderr.split('\n')[0]).toMatch(/^synup: cold copy refused: .* still holds? .*; nothing was changed$/);
    expect(existsSync(path.join(t.work, 'cold'))).toBe(false);
    expect(fileDigests(t.cellDir)).toEqual(before);
    expect(readdirSync(t.work).sort()).toEqual(['backups', 'by-hand.log', 'cortex00', 'state', 'synup.yaml']);

    const stopped = await t.run(['stop', '--json']);
    expect(stopped.stderr).toBe('');
    expect(json(stopped.stdout)).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    expect(child.exitCode ?? (await new Promise((resolve) => child.once('exit', resolve)))).toBe(0); // SIGTERM: a graceful stop
    expect(JSON.parse(readFileSync(path.join(t.stateDir, 'cortex00.pid'), 'utf8'))).toMatchObject({ pid: child.pid, adopted: { pgid: child.pid } });
    expect(await findHolders(t.cellDir)).toEqual([]);
  });

  it('upgrade adopts it by itself and stops it gracefully; the new version runs with its lock', async () => {
    const t = await setup();
    const { child } = await startByHand(t, '2.180.0', { faults: ['drop-lock'], until: /fault drop-lock/ });
    expect((await t.run(['backup'])).exitCode).toBe(0);
    const upgraded = await t.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(upgraded.stderr).toMatch(/\[upgrade\/stop\] completed/);
    expect(upgraded.exitCode).toBe(0);
    expect(child.exitCode ?? (await new Promise((resolve) => child.once('exit', resolve)))).toBe(0); // SIGTERM: a graceful stop
    const after = json((await t.run(['status', '--json'])).stdout);
    expect(after).toMatchObject({ running: true, configuredVersion: '2.181.0', dataVersion: '2.181.0' });
    expect((await findHolders(t.cellDir)).filter((h) => h.kind === 'cell-lock').map((h) => h.pid)).toEqual([after.pid]);
    expect((await t.run(['stop'])).exitCode).toBe(0);
  });

  it('a process reading its envs without cell.guid open (a backup tool) is not taken for the service: status says stopped, stop leaves it alone and fails, backup --cold refuses', async () => {
    const t = await setup();
    const reader = spawn(process.execPath, [path.join(path.dirname(SIM_CELL_JS), 'worker.js'), t.cellDir], { detached: true, stdio: 'ignore' });
    byHand.push(reader);
    await waitFor(async () => (await findHolders(t.cellDir)).length > 0, 'the reader holds a slot', { intervalMs: 100 });
    expect((await findHolders(t.cellDir)).map((h) => [h.pid, h.kind])).toEqual([[reader.pid, 'reader']]);

    expect(json((await t.run(['status', '--json'])).stdout)).toMatchObject({ running: false, pid: null });
    const stop = await t.run(['stop']);
    expect(stop.exitCode).toBe(1);
    expect(stop.stderr.split('\n')[0]).toMatch(new RegExp(`^synup: the service stopped but pid ${reader.pid} \\(node, reader of .*lock\\.mdb\\) still holds the cell's files$`));
    expect(isAlive(reader.pid!)).toBe(true);
    expect(existsSync(path.join(t.stateDir, 'cortex00.pid'))).toBe(false);
    const cold = await t.run(['backup', '--cold', t.cellDir, path.join(t.work, 'cold')]);
    expect(cold.exitCode).toBe(3);
    expect(existsSync(path.join(t.work, 'cold'))).toBe(false);
  });
});

describe('start, restart, stop, logs', () => {
  it('start runs the version in the data and waits until active; restart; stop leaves nothing holding the cell', async () => {
    const t = await setup('2.181.0');
    const started = await t.run(['start', '--json']);
    expect(started.stderr).toBe('');
    expect(started.exitCode).toBe(0);
    const s = json(started.stdout);
    expect(s).toMatchObject({ action: 'start', version: '2.181.0' });
    expect(isAlive(s.pid as number)).toBe(true);

    const restarted = await t.run(['restart', '--json']);
    expect(restarted.exitCode).toBe(0);
    const r = json(restarted.stdout);
    expect(r).toMatchObject({ action: 'restart', version: '2.181.0', stop: { wasRunning: true, forced: false } });
    expect(isAlive(s.pid as number)).toBe(false);

    const logs = await t.run(['logs', '-n', '1', '--json']);
    expect(logs.exitCode).toBe(0);
    // The last line of synup's log of the service (a non-fatal traceback's exception line, as the sim writes one once active).
    const lastLine = readFileSync(path.join(t.stateDir, 'cortex00.log'), 'utf8').trimEnd().split('\n').at(-1);
    expect(logs.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ line: lastLine }]);

    // logs -n 1 -f: the last line, then what comes next (the shutdown), until interrupted
    const following = execa(process.execPath, [synupBin, 'logs', '-n', '1', '-f'], { cwd: t.work, env: { NO_COLOR: '1' }, reject: false, forceKillAfterDelay: false });
    let seen = '';
    const saw = (re: RegExp) => new Promise<void>((resolve) => {
      const check = () => re.test(seen) && resolve();
      following.stdout!.on('data', (chunk: Buffer) => {
        seen += chunk;
        check();
      });
      check();
    });
    await saw(/\n/);
    const stopped = await t.run(['stop']);
    expect(stopped.exitCode).toBe(0);
    expect(stopped.stderr).toMatch(/^cortex00 stopped in /);
    await saw(/cell shutdown complete/);
    following.kill('SIGINT');
    const followed = await following;
    expect(followed.exitCode).toBe(0);
    expect(seen.split('\n').filter((l) => /https listening/.test(l))).toEqual([]); // only the last line before -f
    expect(seen).toMatch(/Caught SIGTERM: shutting down/);
    expect(await findHolders(t.cellDir)).toEqual([]);
    const again = await t.run(['stop']);
    expect(again.stderr).toMatch(/was not running/);
  });

  it('refuses (exit 3) start, stop, restart and adopt while a synup run holds the cell lock; nothing changes', async () => {
    const t = await setup();
    const lock = acquireLock(cellLockFile(t.cellDir), t.cellDir, { runId: 'run-under-test', command: 'upgrade' });
    try {
      const before = fileDigests(t.cellDir);
      for (const command of ['start', 'stop', 'restart', 'adopt']) {
        const result = await t.run([command, '--json']);
        expect({ command, exitCode: result.exitCode }).toEqual({ command, exitCode: 3 });
        expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'refused' } });
        expect(result.stderr).toMatch(/locked by synup upgrade/);
      }
      expect(fileDigests(t.cellDir)).toEqual(before);
      expect(existsSync(path.join(t.stateDir, 'cortex00.pid'))).toBe(false);
    } finally {
      lock.release();
    }
  });

  it('a bad health.check is a config error (exit 2, one line naming the key)', async () => {
    const t = await setup();
    writeFileSync(path.join(t.work, 'synup.yaml'), readFileSync(path.join(t.work, 'synup.yaml'), 'utf8').replace('health: {', 'health: {check: tls, '));
    const result = await t.run(['start']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(/^synup: config .*synup\.yaml: health\.check: Invalid option: expected one of "https"\|"tool"$/);
    expect(existsSync(t.stateDir)).toBe(false);
  });

  it('logs -n rejects a bad count (exit 2, one line)', async () => {
    const t = await setup();
    const result = await t.run(['logs', '-n', 'many']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--lines must be a whole number ≥ 0, received "many"/);
  });
});
