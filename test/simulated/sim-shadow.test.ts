// What synup's online defragmentation through a shadow mirror (issue 24) needs of the sim, through its process and its
// HTTP surface: a live backup through storm/call that is consistent with its nexus index, booted as a tcp:// mirror
// that listens on nothing; telepath credentials; https:port precedence; backup refusals; a mirror that falls behind.
import { appendFileSync, cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNexusIndex } from '../../src/lmdb/nexus.js';
import { createSimCell, freePort, inspectSimCell, simRequest, type SimProcess } from '../sim/index.js';
import { listeningPorts, useSims } from '../sim/testing.js';
import { waitFor } from '../support/budget.js';
import { tempDir } from '../support/helpers.js';

const sims = useSims();
const PASSWORD = 'sekrit';
const root = { user: 'root', password: PASSWORD };
const BACKUP_QUERY = 'return($lib.backup.run(name=$name, wait=$lib.true))';
const CELL_INFO_QUERY = 'return($lib.cell.getCellInfo())';

/** A number the sim logged: `dmon listening: N` → N. */
async function loggedPort(sim: SimProcess, what: 'dmon' | 'https'): Promise<number> {
  return Number(/listening: (\d+)/.exec(await sim.waitForLog(new RegExp(`${what} listening: \\d+`)))![1]);
}

function storm(dir: string, port: number, query: string, vars: Record<string, unknown> = {}) {
  return simRequest({ dir, port, path: '/api/v1/storm/call', auth: root, body: { query, opts: { vars } }, timeoutMs: 30_000 });
}

/** A client write to a leader over HTTPS: its nexus offset. */
async function write(dir: string, port: number, name: string): Promise<number> {
  const { status, json } = await simRequest({ dir, port, path: '/api/v1/sim/nodes', body: { name } });
  if (status !== 200) throw new Error(`write ${name}: HTTP ${status} ${JSON.stringify(json)}`);
  return json.result.offs;
}

/** `lanes` clients each writing w0, w1, … one write after another until stopped; `acked` counts the acknowledged writes. */
function writer(dir: string, port: number, lanes = 4) {
  let running = true;
  let issued = 0;
  // A failed write ends its lane and is thrown by stop(): never an unhandled rejection when a test ends early.
  const lane = async () => {
    while (running) {
      try {
        await write(dir, port, `w${issued++}`);
      } catch (error) {
        state.failure ??= error;
        return;
      }
      state.acked++;
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, lane));
  const state = {
    acked: 0,
    failure: undefined as unknown,
    stop: async () => {
      running = false;
      await done;
      if (state.failure) throw state.failure;
      return state.acked;
    },
  };
  return state;
}

/** A GET on a sim's telepath listener (plain HTTP), with `auth` as basic auth when given. */
function dmonGet(port: number, route: string, auth?: string): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const headers = auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
    http.get({ host: '127.0.0.1', port, path: route, headers, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    }).on('error', reject);
  });
}

/** A leader at 2.180.0 with `seed` nodes, a telepath listener on a free port and a password; `yaml`: more of cell.yaml. */
async function leaderCell(work: string, { seed = 100, yaml = '' } = {}) {
  const dir = path.join(work, 'leader');
  await createSimCell(dir, { version: '2.180.0', seed });
  appendFileSync(path.join(dir, 'cell.yaml'), `dmon:listen: tcp://127.0.0.1:0/\n${yaml}`);
  const sim = await sims.start({ dir, version: '2.180.0', env: { SYN_SIM_PASSWORD: PASSWORD } });
  const dmon = await loggedPort(sim, 'dmon');
  await sim.waitForLog(/cell is active \(leader\)/);
  return { dir, sim, port: sim.port!, dmon };
}

/** A backup of the leader through storm/call (consistent, unlike a copy of its files) with `mods` as its cell.mods.yaml. */
async function backupAs(leader: { dir: string; port: number }, name: string, mods: string): Promise<string> {
  expect((await storm(leader.dir, leader.port, BACKUP_QUERY, { name })).json).toEqual({ status: 'ok', result: name });
  const dir = path.join(leader.dir, 'backups', name);
  writeFileSync(path.join(dir, 'cell.mods.yaml'), mods);
  return dir;
}

describe('the sim for a shadow mirror', () => {
  it('a backup through storm/call under a running writer is consistent, boots as a tcp:// mirror listening on nothing, and ends equal to its leader', async () => {
    const work = tempDir('synup-sim-shadow-');
    const backups = path.join(work, 'backups');
    const leader = await leaderCell(work, { yaml: `backup:dir: ${backups}\n` });
    const load = writer(leader.dir, leader.port);
    await waitFor(() => load.acked >= 20, 'the writer is under way');
    const { status, json } = await storm(leader.dir, leader.port, BACKUP_QUERY, { name: 'shadow' });
    expect({ status, json }).toEqual({ status: 200, json: { status: 'ok', result: 'shadow' } });
    const shadowDir = path.join(backups, 'shadow');
    // The log reaches the test through a pipe, after the answer: wait for its last line.
    await waitFor(() => /Backup shadow completed successfully\. {2}Took [\d.e-]+ s/.test(leader.sim.log()), 'the backup\'s last log line');
    const log = leader.sim.log();
    expect(log).toContain(`Starting backup to [${shadowDir}]`);
    expect(log).toContain(`Backup completed to [${shadowDir}]`);
    await waitFor(() => load.acked >= 40, 'the writer goes on after the backup');

    // The copy's nexus index and its layers agree: every entry is a write, and each write is one node.
    const copied = await readNexusIndex(shadowDir);
    const copy = await inspectSimCell(shadowDir, { names: true });
    expect(copied.index).toBeGreaterThanOrEqual(20);
    expect(copy.names).toHaveLength(copied.index);
    expect(copy.vers['sim:nexus:applied']).toBe(copied.index);
    expect(readdirSync(shadowDir).sort()).toEqual(['cell.guid', 'cell.yaml', 'layers', 'slabs', 'sslcert.pem', 'sslkey.pem']);
    expect(readFileSync(path.join(shadowDir, 'cell.guid'), 'utf8')).toBe(readFileSync(path.join(leader.dir, 'cell.guid'), 'utf8'));

    writeFileSync(path.join(shadowDir, 'cell.mods.yaml'), `mirror: tcp://root:${PASSWORD}@127.0.0.1:${leader.dmon}/\nhttps:port: null\ndmon:listen: null\n`);
    const shadow = await sims.start({ dir: shadowDir, version: '2.180.0' });
    await shadow.waitForLog(new RegExp(`cell is passive \\(mirror of tcp://root:\\*\\*\\*\\*@127\\.0\\.0\\.1:${leader.dmon}/\\)`));
    expect(shadow.log()).toContain('...cortex API (https): disabled');
    expect(shadow.log()).toMatch(/Set configuration override for \[dmon:listen\] from /);
    expect(shadow.log()).not.toMatch(/https listening|dmon listening|sekrit/);
    expect(listeningPorts(shadow.child.pid!)).toEqual([]);
    expect(listeningPorts(leader.sim.child.pid!)).toEqual([leader.port, leader.dmon].sort((a, b) => a - b));

    const acked = await load.stop();
    await waitFor(async () => (await readNexusIndex(shadowDir)).index >= acked, 'the shadow catches up (its files say)', { intervalMs: 100 });
    await leader.sim.stop();
    await shadow.stop();
    const [leaderIndex, shadowIndex] = [await readNexusIndex(leader.dir), await readNexusIndex(shadowDir)];
    expect(leaderIndex.index).toBe(acked);
    expect(shadowIndex.index).toBe(acked);
    const [leaderState, shadowState] = [await inspectSimCell(leader.dir, { names: true }), await inspectSimCell(shadowDir, { names: true })];
    expect(shadowState.names).toEqual(leaderState.names);
    expect(new Set(shadowState.names).size).toBe(acked);
    expect(shadowState.layers).toEqual(leaderState.layers);
  });

  it('the telepath listener wants the credentials everywhere; a mirror with wrong ones retries and says why; getCellInfo on leader and mirror', async () => {
    const work = tempDir('synup-sim-shadow-');
    const leader = await leaderCell(work);
    expect((await dmonGet(leader.dmon, '/api/v1/sim/nexus/indx')).status).toBe(401);
    expect((await dmonGet(leader.dmon, '/api/v1/sim/nexus/indx', 'root:nope')).json.code).toBe('NotAuthenticated');
    expect((await dmonGet(leader.dmon, '/api/v1/sim/nexus/indx', `root:${PASSWORD}`)).json).toEqual({ status: 'ok', result: { indx: 0 } });
    for (let i = 0; i < 5; i++) await write(leader.dir, leader.port, `n${i}`);

    const goodDir = await backupAs(leader, 'good', `mirror: tcp://root:${PASSWORD}@127.0.0.1:${leader.dmon}/\ndmon:listen: null\n`);
    const badDir = await backupAs(leader, 'bad', `mirror: tcp://root:wrong@127.0.0.1:${leader.dmon}/\ndmon:listen: null\n`);
    for (let i = 5; i < 8; i++) await write(leader.dir, leader.port, `n${i}`);
    const env = { SYN_SIM_PASSWORD: PASSWORD };
    const [good, bad] = await Promise.all([sims.start({ dir: goodDir, version: '2.180.0', env }), sims.start({ dir: badDir, version: '2.180.0', env })]);
    await bad.waitForLog(/mirror: authentication failed at tcp:\/\/root:\*\*\*\*@127\.0\.0\.1:\d+\/: NotAuthenticated: .*; retrying \(attempt 2\)/);
    expect(bad.log()).not.toContain('wrong');

    await waitFor(async () => (await storm(goodDir, good.port, CELL_INFO_QUERY)).json.result.cell.ready, 'the good mirror is ready');
    const info = async (dir: string, port: number) => (await storm(dir, port, CELL_INFO_QUERY)).json.result.cell;
    const iden = readFileSync(path.join(leader.dir, 'cell.guid'), 'utf8');
    expect(await info(leader.dir, leader.port)).toMatchObject({ iden, active: true, ready: true, nexsindx: 8, version: [2, 180, 0], mirror: null });
    expect(await info(goodDir, good.port)).toMatchObject({ iden, active: false, ready: true, nexsindx: 8, mirror: `tcp://root:****@127.0.0.1:${leader.dmon}/` });
    expect(await info(badDir, bad.port)).toMatchObject({ active: false, ready: false, nexsindx: 5 });
    expect((await simRequest({ dir: goodDir, port: good.port, path: '/api/v1/storm/call', body: { query: CELL_INFO_QUERY } })).status).toBe(401);
  });

  it('https:port: cell.mods.yaml over --port over cell.yaml over 4443; null = no HTTPS; aha:leader: null claims nothing', async () => {
    const work = tempDir('synup-sim-shadow-');
    const cell = async (name: string, yaml: string, mods?: string) => {
      const dir = path.join(work, name);
      await createSimCell(dir, { version: '2.180.0' });
      appendFileSync(path.join(dir, 'cell.yaml'), yaml);
      if (mods !== undefined) writeFileSync(path.join(dir, 'cell.mods.yaml'), mods);
      return dir;
    };
    const [modsPort, yamlPort, bareYamlPort] = [await freePort(), await freePort(), await freePort()];
    const aha = path.join(work, 'aha');
    const dirs = await Promise.all([
      cell('mods', `https:port: ${yamlPort}\nsim:aha: ${aha}\naha:leader: cortex\n`, `https:port: ${modsPort}\naha:leader: null\n`),
      cell('flag', `https:port: ${yamlPort}\n`),
      cell('yaml', `https:port: ${bareYamlPort}\n`),
      cell('off', 'https:port: null\n'),
    ]);
    const [mods, flag, yaml, off] = await Promise.all([
      sims.start({ dir: dirs[0]!, version: '2.180.0' }),
      sims.start({ dir: dirs[1]!, version: '2.180.0' }),
      sims.start({ dir: dirs[2]!, version: '2.180.0', port: null }),
      sims.start({ dir: dirs[3]!, version: '2.180.0', port: null }),
    ]);
    expect(await loggedPort(mods, 'https')).toBe(modsPort);
    expect(mods.log()).toMatch(/Set configuration override for \[https:port\] from .*cell\.mods\.yaml/);
    expect(mods.log()).toMatch(/Set configuration override for \[aha:leader\] from /);
    expect(await loggedPort(flag, 'https')).toBe(flag.port);
    expect(await loggedPort(yaml, 'https')).toBe(bareYamlPort);
    await off.waitForLog(/cell is active \(leader\)/);
    expect(off.log()).toContain('...cortex API (https): disabled');
    expect(off.log()).not.toContain('https listening');
    expect(listeningPorts(off.child.pid!)).toEqual([]);
    await mods.waitForLog(/cell is active \(leader\)/);
    expect(mods.log()).not.toContain('AHA: registered');
    expect(existsSync(path.join(aha, 'cortex'))).toBe(false);
  });

  it('backup refusals: an existing name, a second one while one runs, a missing variable, backup:dir inside (or beside) the cell dir', async () => {
    const work = tempDir('synup-sim-shadow-');
    const leader = await leaderCell(work, { seed: 20_000 });
    const ok = await storm(leader.dir, leader.port, BACKUP_QUERY, { name: 'one' });
    expect(ok.json).toEqual({ status: 'ok', result: 'one' });
    expect(existsSync(path.join(leader.dir, 'backups', 'one', 'slabs', 'nexus.lmdb', 'data.mdb'))).toBe(true);
    expect(await storm(leader.dir, leader.port, BACKUP_QUERY, { name: 'one' })).toMatchObject({ status: 400, json: { status: 'err', code: 'BadArg', mesg: 'Backup with name already exists' } });
    expect(await storm(leader.dir, leader.port, BACKUP_QUERY)).toMatchObject({ status: 400, json: { code: 'NoSuchVar' } });
    expect(await storm(leader.dir, leader.port, BACKUP_QUERY, { name: '../../escape' })).toMatchObject({ status: 400, json: { code: 'BadArg', mesg: 'Directory traversal detected' } });

    const both = await Promise.all(['two', 'three'].map((name) => storm(leader.dir, leader.port, BACKUP_QUERY, { name })));
    expect(both.map((r) => r.json.status).sort()).toEqual(['err', 'ok']);
    expect(both.find((r) => r.json.status === 'err')).toMatchObject({ status: 400, json: { code: 'BackupAlreadyRunning', mesg: 'Another backup is already running' } });

    for (const backupDir of [path.join(leader.dir, 'elsewhere'), `${leader.dir}-backups`]) {
      const dir = path.join(work, `refuses-${path.basename(backupDir)}`);
      cpSync(path.join(leader.dir, 'backups', 'one'), dir, { recursive: true });
      appendFileSync(path.join(dir, 'cell.yaml'), `backup:dir: ${backupDir.replace(leader.dir, dir)}\n`);
      const refused = await sims.start({ dir, version: '2.180.0' });
      expect(await refused.exited).toEqual({ code: 1, signal: null });
      expect(refused.log().trim().split('\n').at(-1)).toBe('synapse.exc.BadConfValu: backup:dir must not be within the service directory');
    }
  });

  it('--mirror-apply-ms: a mirror slower than its writer falls behind, then catches up', async () => {
    const work = tempDir('synup-sim-shadow-');
    const leader = await leaderCell(work);
    const mirrorDir = await backupAs(leader, 'slow', `mirror: https://127.0.0.1:${leader.port}/\ndmon:listen: null\n`);
    const mirror = await sims.start({ dir: mirrorDir, version: '2.180.0', args: ['--mirror-apply-ms', '80'] });
    await mirror.waitForLog(/cell is passive/);
    const index = async () => (await storm(mirrorDir, mirror.port, CELL_INFO_QUERY)).json.result.cell.nexsindx;
    for (let i = 0; i < 60; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => write(leader.dir, leader.port, `fast${i + j}`)));
    expect(await index()).toBeLessThan(60);
    await waitFor(async () => (await index()) === 60, 'the slow mirror catches up', { timeoutMs: 8_000, intervalMs: 100 });
  });
});
