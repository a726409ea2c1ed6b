// Each fault the simulated cell can inject (test/sim/faults.js), as a real process: what it does, what it leaves.
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findHolders } from '../../src/lmdb/holders.js';
import { tempDir } from '../support/helpers.js';
import { createSimCell, FAULT_MODES, inspectSimCell, simRequest } from '../sim/index.js';
import { fileDigests, logMessages, useSims } from '../sim/testing.js';

const { start } = useSims();

/** A created (not running) cell at `version`. */
async function cell(version: string, seed = 0): Promise<string> {
  const dir = path.join(tempDir('synup-sim-fault-'), 'cortex00');
  await createSimCell(dir, { version, seed });
  return dir;
}

/** Whether anything accepts a TCP connection on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(5000, () => done(false));
  });
}

const lastLine = (log: string) => log.trimEnd().split('\n').at(-1);

describe('fault injection', () => {
  it('knows exactly the eight modes', () => {
    expect(FAULT_MODES).toEqual(['crash-on-boot', 'hang-before-active', 'never-active', 'wrong-version', 'die-mid-migration', 'ignore-sigterm', 'corrupt-on-exit', 'drop-lock', 'late-write-on-stop']);
  });

  it('crash-on-boot: exit 1 with a traceback, no listener, data untouched', async () => {
    const dir = await cell('2.180.0', 20);
    const before = fileDigests(dir);
    const sim = await start({ dir, version: '2.181.0', faults: ['crash-on-boot'] });
    expect(await sim.exited).toEqual({ code: 1, signal: null });
    expect(sim.log()).toContain('Traceback (most recent call last):');
    expect(lastLine(sim.log())).toBe('synapse.exc.SynErr: simulated crash on boot (fault crash-on-boot)');
    expect(sim.log()).not.toContain('https listening');
    expect(fileDigests(dir)).toEqual(before);
  });

  it('hang-before-active: migrates, then runs without ever listening; SIGTERM still stops it cleanly', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.181.0', faults: ['hang-before-active'], migrationMs: 100 });
    await sim.waitForLog(/hanging before the listener is up/);
    expect(logMessages(sim.log())).toContain('...Drive migration complete!');
    expect(await accepts(sim.port)).toBe(false);
    expect(sim.child.exitCode).toBe(null);
    expect(await sim.stop()).toEqual({ code: 0, signal: null });
    expect(sim.log()).not.toContain('https listening');
  });

  it('never-active: listens and answers active:false, and runs no model migration', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.181.0', faults: ['never-active'], migrationMs: 100 });
    await sim.waitForLog(/cell is not active \(fault never-active\)/);
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/active' })).json).toEqual({ status: 'ok', result: { active: false } });
    expect(sim.log()).not.toContain('beginning model migration');
    expect(await sim.stop()).toEqual({ code: 0, signal: null });
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.181.0', vers: { 'sim:storage': 1 }, layers: [{ modelVersion: '0.2.30' }] });
  });

  it('wrong-version: /api/v1/core/info says 2.0.0 while the data says the real version', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.180.0', faults: ['wrong-version'] });
    await sim.waitForLog(/cell is active/);
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/core/info' })).json.result.version).toEqual([2, 0, 0]);
    expect((await inspectSimCell(dir)).cellVersion).toBe('2.180.0');
  });

  it('die-mid-migration: exit 1 halfway through the first storage migration, the data really half-migrated; a healthy boot finishes it', async () => {
    const dir = await cell('2.180.0', 300); // 257 nodes
    const sim = await start({ dir, version: '2.182.0', faults: ['die-mid-migration'], migrationMs: 100 });
    expect(await sim.exited).toEqual({ code: 1, signal: null });
    expect(lastLine(sim.log())).toBe('synapse.exc.SynErr: died in the middle of the 2.181.0 storage migration after rewriting 128/257 nodes (fault die-mid-migration)');
    expect(logMessages(sim.log())).not.toContain('...Drive migration complete!');
    // As Synapse: cell:version is written at boot, before migrating.
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.182.0', vers: { 'sim:storage': 0 }, layers: [{ modelVersion: '0.2.30', migrated: { '2.181.0': 128 } }] });

    const healthy = await start({ dir, version: '2.182.0', migrationMs: 100 });
    await healthy.waitForLog(/\.\.\.model migrations complete!/);
    await healthy.stop();
    expect(await inspectSimCell(dir)).toMatchObject({ vers: { 'sim:storage': 2 }, layers: [{ modelVersion: '0.2.32', migrated: { '2.181.0': 257, '2.182.0': 257 } }] });
  });

  it('die-mid-migration on a boot with nothing to migrate says so and serves', async () => {
    const dir = await cell('2.181.0');
    const sim = await start({ dir, version: '2.181.0', faults: ['die-mid-migration'] });
    await sim.waitForLog(/cell is active/);
    expect(logMessages(sim.log())).toContain('fault die-mid-migration: no storage migration to die in');
  });

  it('ignore-sigterm: SIGTERM is logged and ignored, the cell keeps serving; SIGKILL ends it and frees cell.guid', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.180.0', faults: ['ignore-sigterm'] });
    await sim.waitForLog(/cell is active/);
    sim.child.kill('SIGTERM');
    await sim.waitForLog(/ignoring SIGTERM \(fault ignore-sigterm\)/);
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/active' })).json.result.active).toBe(true);
    expect(sim.child.exitCode).toBe(null);
    expect(await sim.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await findHolders(dir)).filter((h) => h.kind === 'cell-lock')).toEqual([]);
  });

  it('corrupt-on-exit: a graceful stop (exit 0) that leaves an in-use page of a data.mdb damaged', async () => {
    const dir = await cell('2.180.0', 50);
    const before = fileDigests(dir);
    const sim = await start({ dir, version: '2.180.0', faults: ['corrupt-on-exit'] });
    await sim.waitForLog(/cell is active/);
    expect(await sim.stop()).toEqual({ code: 0, signal: null });
    const corrupted = /flipped the header of page (\d+) of (.*layer_v2\.lmdb\/data\.mdb) \(fault corrupt-on-exit\)/.exec(sim.log());
    expect(corrupted, sim.log()).not.toBeNull();
    // The same version rebooting rewrites cell:info in cell.lmdb; the layer env it only read — until the fault.
    const changed = Object.keys(before).filter((f) => fileDigests(dir)[f] !== before[f]);
    expect(changed.sort()).toEqual([path.relative(dir, corrupted![2]!), 'slabs/cell.lmdb/data.mdb'].sort());
    await expect(inspectSimCell(dir)).rejects.toThrow(/inspect\.js/);
    const stat = spawnSync('mdb_stat', ['-a', path.dirname(corrupted![2]!)], { encoding: 'utf8' });
    if (!stat.error) expect(stat.status).not.toBe(0);
  });
  it('drop-lock: once active, the sim runs on without its lock on cell.guid, the file still open, its envs held', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.180.0', faults: ['drop-lock'] });
    await sim.waitForLog(/dropped the lock on .*cell\.guid, the file still open, as after a live backup \(fault drop-lock\)/);
    const holders = await findHolders(dir);
    expect(holders.filter((h) => h.kind === 'cell-lock')).toEqual([]);
    expect(holders.filter((h) => h.kind === 'reader').map((h) => h.pid)).toContain(sim.child.pid);
    expect(readdirSync(`/proc/${sim.child.pid}/fd`).some((fd) => readlinkSync(`/proc/${sim.child.pid}/fd/${fd}`) === path.join(dir, 'cell.guid'))).toBe(true);
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/active' })).json.result.active).toBe(true);
    expect(await sim.stop()).toEqual({ code: 0, signal: null });
    expect(await findHolders(dir)).toEqual([]);
  });
});

describe('fault scoping', () => {
  it('MODE@VERSION applies only to that version: the old version boots healthy, the new one fails', async () => {
    const dir = await cell('2.180.0');
    const env = { SYN_SIM_FAULT: 'crash-on-boot@2.181.0, wrong-version@2.181.0' };
    const old = await start({ dir, version: '2.180.0', env });
    await old.waitForLog(/cell is active/);
    expect((await simRequest({ dir, port: old.port, path: '/api/v1/core/info' })).json.result.version).toEqual([2, 180, 0]);
    await old.stop();
    const next = await start({ dir, version: '2.181.0', env });
    expect((await next.exited).code).toBe(1);
    expect(lastLine(next.log())).toContain('fault crash-on-boot');
  });

  it('--fault flags and SYN_SIM_FAULT add up', async () => {
    const dir = await cell('2.180.0');
    const sim = await start({ dir, version: '2.180.0', faults: ['never-active'], env: { SYN_SIM_FAULT: 'wrong-version' } });
    await sim.waitForLog(/cell is not active/);
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/core/info' })).json.result.version).toEqual([2, 0, 0]);
  });
});
