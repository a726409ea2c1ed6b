// The simulated Synapse cell (test/sim/cell.js) as a real process: storage layout and format, the cell.guid lock,
// HTTPS, upgrade migrations in the real order, BadVersion, graceful stops, bad usage.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findHolders } from '../../src/lmdb/holders.js';
import { tempDir } from '../support/helpers.js';
import { createSimCell, inspectSimCell, SIM_CELL_JS, simRequest, startSim } from '../sim/index.js';
import { migratingReleases } from '../sim/migrations.js';
import { fileDigests, logMessages, useSims } from '../sim/testing.js';
import { budget, slowdown } from '../support/budget.js';

const { start } = useSims();

function newCellDir(): string {
  return path.join(tempDir('synup-sim-'), 'cortex00');
}

/** The fd through which `pid` holds a lock on `file`, from /proc/<pid>/fdinfo (where a flock lock shows its owner). */
function lockingFd(pid: number, file: string): string | undefined {
  const fds = readdirSync(`/proc/${pid}/fd`);
  return fds.find((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === file && /^lock:\s.*\bFLOCK\b.*\bWRITE\b/m.test(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    } catch {
      return false;
    }
  });
}

/** A non-fatal error the sim logs at every boot, with its traceback, as a real Cortex logs a failing Storm dmon. */
const DMON_TRACEBACK = [
  'Dmon query exited: sim-dmon',
  'Traceback (most recent call last):',
  '  File "/opt/synapse/synapse/lib/storm.py", line 1370, in dmonloop',
  '    async for nodes in self.core.storm(text, opts=opts):',
  "synapse.exc.NoSuchForm: No form named sim:gone. mesg='No form named sim:gone.'",
];
/** Python logging's asctime of a log line, in ms. */
const stampOf = (line: string) => Date.parse(line.slice(0, 23).replace(' ', 'T').replace(',', '.') + 'Z');

const cellLocks = async (dir: string) => (await findHolders(dir)).filter((h) => h.kind === 'cell-lock');
const hasTool = (tool: string) => spawnSync(tool, ['-V'], { stdio: 'ignore' }).error === undefined;

describe('first boot', () => {
  it("creates Synapse's layout: cell files, a self-signed cert for localhost/127.0.0.1, v1 LMDB envs with the versions as msgpack tuples", async () => {
    const dir = newCellDir();
    const created = await createSimCell(dir, { version: '2.180.0', seed: 70 });

    expect(created.guid).toMatch(/^[0-9a-f]{32}$/);
    expect(readFileSync(path.join(dir, 'cell.guid'), 'utf8')).toBe(created.guid);
    expect(existsSync(path.join(dir, 'cell.yaml'))).toBe(true);
    expect(created.layers).toHaveLength(1);
    for (const env of ['slabs/cell.lmdb', `layers/${created.layers[0]}/layer_v2.lmdb`]) {
      const meta = readFileSync(path.join(dir, env, 'data.mdb')).subarray(16, 24);
      expect({ env, magic: meta.readUInt32LE(0).toString(16), version: meta.readUInt32LE(4) }).toEqual({ env, magic: 'beefc0de', version: 1 });
    }

    const cert = new X509Certificate(readFileSync(path.join(dir, 'sslcert.pem')));
    expect(cert.subject).toBe('CN=localhost');
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(path.join(dir, 'sslkey.pem'))))).toBe(true);
    expect(statSync(path.join(dir, 'sslkey.pem')).mode & 0o777).toBe(0o600);

    expect(await inspectSimCell(dir)).toEqual({
      guid: created.guid,
      cellVersion: '2.180.0',
      synapseVersion: '2.180.0',
      nexusVersion: '2.198',
      nexusIndex: 0,
      vers: { 'cell:storage': 2, 'sim:storage': 0 },
      layers: [{ iden: created.layers[0], modelVersion: '0.2.30', nodes: 60, migrated: {} }], // 70 seeded, every 7th deleted
    });
  });

  it('a first boot of a release that carries migrations starts with its data current: nothing to migrate', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.182.0', seed: 10 });
    await sim.waitForLog(/cell is active/);
    expect(logMessages(sim.log()).filter((m) => /migrat/i.test(m))).toEqual([]);
    await sim.stop();
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.182.0', vers: { 'sim:storage': 2 }, layers: [{ modelVersion: '0.2.32', migrated: {} }] });
  });

  it.runIf(hasTool('mdb_stat') && hasTool('mdb_dump'))('mdb_stat and mdb_dump (LMDB 0.9, as py-lmdb) read the envs: named dbs, DUPSORT indexes, msgpack versions', async () => {
    const dir = newCellDir();
    const { layers } = await createSimCell(dir, { version: '2.181.0', seed: 20 });
    const stat = (env: string) => spawnSync('mdb_stat', ['-a', path.join(dir, env)], { encoding: 'utf8' });
    const cell = stat('slabs/cell.lmdb');
    expect(cell.status, cell.stderr).toBe(0);
    expect(cell.stdout).toMatch(/Status of cell:info\n(.*\n)*?\s+Entries: 3\n/);
    expect(cell.stdout).toContain('Status of cell:vers');
    expect(cell.stdout).toContain('Status of cortex');
    const layer = stat(`layers/${layers[0]}/layer_v2.lmdb`);
    expect(layer.status, layer.stderr).toBe(0);
    expect(layer.stdout).toMatch(/Status of bybuidv3\n(.*\n)*?\s+Entries: 17\n/);

    const info = spawnSync('mdb_dump', ['-s', 'cell:info', path.join(dir, 'slabs/cell.lmdb')], { encoding: 'utf8' });
    const lines = info.stdout.split('\n').map((l) => l.trim());
    const hex = (s: string) => Buffer.from(s).toString('hex');
    // msgpack [2, 181, 0] = fixarray(3) 02 uint8(181) 00
    expect(lines[lines.indexOf(hex('cell:version')) + 1]).toBe('9302ccb500');
    expect(lines[lines.indexOf(hex('synapse:version')) + 1]).toBe('9302ccb500');
    const byprop = spawnSync('mdb_dump', ['-s', 'byprop', path.join(dir, `layers/${layers[0]}/layer_v2.lmdb`)], { encoding: 'utf8' });
    expect(byprop.stdout).toContain('dupsort=1');
  });
});

describe('the cell.guid lock', () => {
  it('a second instance on the same dir refuses, exit 1, and the first keeps serving; the lock is the running one', async () => {
    const dir = newCellDir();
    const first = await start({ dir, version: '2.180.0' });
    await first.waitForLog(/cell is active/);
    const guidFile = path.join(dir, 'cell.guid');
    expect(lockingFd(first.child.pid!, guidFile)).toBeDefined();
    expect(await cellLocks(dir)).toHaveLength(1);
    const before = fileDigests(dir);

    const second = await start({ dir, version: '2.180.0' });
    expect(await second.exited).toEqual({ code: 1, signal: null });
    expect(second.log()).toContain('synapse.exc.FatalErr: Cannot start the cortex, another process is already running it.');
    expect(second.log()).not.toContain('https listening');
    expect(fileDigests(dir)).toEqual(before);
    expect((await simRequest({ dir, port: first.port, path: '/api/v1/active' })).json).toEqual({ status: 'ok', result: { active: true } });
  });

  it('dies with the process, however it ends: after SIGKILL nothing holds cell.guid and a new instance starts', async () => {
    const dir = newCellDir();
    const first = await start({ dir, version: '2.180.0' });
    await first.waitForLog(/cell is active/);
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await cellLocks(dir)).toEqual([]);
    const next = await start({ dir, version: '2.180.0' });
    await next.waitForLog(/cell is active/);
  });
});

describe('HTTPS', () => {
  it('serves /api/v1/active and /api/v1/core/info with the cell’s own certificate, JSON 404 elsewhere', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0' });
    await sim.waitForLog(/cell is active/);
    const get = (route: string) => simRequest({ dir, port: sim.port, path: route });
    expect(await get('/api/v1/active')).toMatchObject({ status: 200, json: { status: 'ok', result: { active: true } } });
    expect(await get('/api/v1/core/info')).toMatchObject({ status: 200, json: { status: 'ok', result: { version: [2, 180, 0] } } });
    expect(await get('/api/v1/nope')).toMatchObject({ status: 404, json: { status: 'err', code: 'NoSuchPath' } });
  });

  it('with SYN_SIM_PASSWORD, /api/v1/core/info wants basic auth as root (401 NotAuthenticated otherwise); /api/v1/active does not', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0', env: { SYN_SIM_PASSWORD: 's3cret' } });
    await sim.waitForLog(/cell is active/);
    const info = (auth?: { user: string; password: string }) => simRequest({ dir, port: sim.port, path: '/api/v1/core/info', auth });
    expect(await info()).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Basic realm=synapse' }, json: { status: 'err', code: 'NotAuthenticated' } });
    expect(await info({ user: 'root', password: 'wrong' })).toMatchObject({ status: 401 });
    expect(await info({ user: 'admin', password: 's3cret' })).toMatchObject({ status: 401 });
    expect(await info({ user: 'root', password: 's3cret' })).toMatchObject({ status: 200, json: { result: { version: [2, 180, 0] } } });
    expect(await simRequest({ dir, port: sim.port, path: '/api/v1/active' })).toMatchObject({ status: 200 });
    expect(sim.log()).not.toContain('s3cret');
  });

  it('--port 0 listens on any free port and logs which', async () => {
    const dir = newCellDir();
    const sim = startSim({ dir, version: '2.180.0', port: 0 });
    try {
      const port = Number(/https listening: (\d+)/.exec(await sim.waitForLog(/https listening: \d+/))![1]);
      expect(port).toBeGreaterThan(0);
      expect((await simRequest({ dir, port, path: '/api/v1/active' })).status).toBe(200);
    } finally {
      await sim.stop();
    }
  });

  it('a port already in use: exits 1 with the bind error, after its storage work', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const sim = startSim({ dir: newCellDir(), version: '2.180.0', port });
      expect((await sim.exited).code).toBe(1);
      expect(sim.log()).toMatch(new RegExp(`OSError: error while attempting to bind on address \\('127\\.0\\.0\\.1', ${port}\\): EADDRINUSE`));
    } finally {
      blocker.close();
    }
  });
});

describe('as unkind as the real Cortex', () => {
  it('logs `beginning model migration` 60–100 ms before `https listening`, and a non-fatal traceback once active', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.180.0', seed: 10 });
    const sim = await start({ dir, version: '2.181.0', migrationMs: 400 });
    await sim.waitForLog(/\.\.\.model migrations complete!/);
    const lines = sim.log().split('\n');
    const begin = stampOf(lines.find((l) => l.includes('beginning model migration'))!);
    const listening = stampOf(lines.find((l) => l.includes('https listening'))!);
    expect(listening - begin).toBeGreaterThanOrEqual(60);
    // 60–100 ms by the sim's timer, plus the listen: 50 ms on an idle machine, longer on a busy one.
    expect(listening - begin).toBeLessThan(100 + 50 * slowdown);
    expect(logMessages(sim.log())).toEqual(expect.arrayContaining(DMON_TRACEBACK));
    expect((await sim.stop()).code).toBe(0);
  });

  it('/api/v1/core/info is as large as a real one (≥ 1.5 MB); a Storm call $lib.version.synapse() answers the version', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0', env: { SYN_SIM_PASSWORD: 's3cret' } });
    await sim.waitForLog(/cell is active/);
    const auth = { user: 'root', password: 's3cret' };
    const info = await simRequest({ dir, port: sim.port, path: '/api/v1/core/info', auth });
    expect(JSON.stringify(info.json).length).toBeGreaterThanOrEqual(1_500_000);
    const call = (query: string, who?: typeof auth) => simRequest({ dir, port: sim.port, path: '/api/v1/storm/call', auth: who, body: { query } });
    expect(await call('return($lib.version.synapse())', auth)).toMatchObject({ status: 200, json: { status: 'ok', result: [2, 180, 0] } });
    expect(await call('return($lib.version.synapse())')).toMatchObject({ status: 401, json: { code: 'NotAuthenticated' } });
    expect(await call('inet:fqdn', auth)).toMatchObject({ json: { status: 'err', code: 'BadSyntax' } });
  });

  it('the first Storm query after a start waits for the parser pool (--storm-start-ms), later ones do not; so does the model migration', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.180.0' });
    const sim = await start({ dir, version: '2.181.0', args: ['--storm-start-ms', '1200'] });
    await sim.waitForLog(/https listening/);
    const call = async () => {
      const began = Date.now();
      const r = await simRequest({ dir, port: sim.port, path: '/api/v1/storm/call', body: { query: 'return($lib.version.synapse())' } });
      return { ms: Date.now() - began, json: r.json };
    };
    const [first, second] = [await call(), await call()];
    expect(first.json).toMatchObject({ status: 'ok', result: [2, 181, 0] });
    expect(first.ms).toBeGreaterThanOrEqual(900); // it shares the wait the model migration began a few ms earlier
    expect(second.ms).toBeLessThan(first.ms);
    expect(await sim.waitForLog(/model migrations complete/)).toContain('...model migrations complete!');
  });

  it('a drive worker in its process group holds a reader slot, ends with a graceful stop and survives a SIGKILLed sim', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0' });
    await sim.waitForLog(/cell is active/);
    const readers = async () => (await findHolders(dir)).filter((h) => h.kind === 'reader').map((h) => h.pid);
    const workers = async () => (await readers()).filter((pid) => pid !== sim.child.pid);
    await expect.poll(async () => (await workers()).length, { timeout: budget(10_000) }).toBe(1); // the worker starts in its own time
    const [worker] = await workers();
    expect(readFileSync(`/proc/${worker}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]).toBe(String(sim.child.pid)); // same process group
    sim.child.kill('SIGKILL'); // the main process only, as the OOM killer does
    await sim.exited;
    expect(await readers()).toEqual([worker]);
    await sim.stop('SIGKILL'); // the group
    await expect.poll(readers, { timeout: 5000 }).toEqual([]);

    const again = await start({ dir, version: '2.180.0' });
    await again.waitForLog(/cell is active/);
    await expect.poll(async () => new Set(await readers()).size, { timeout: budget(10_000) }).toBe(2); // the sim (in several envs) and its worker
    expect((await again.stop()).code).toBe(0);
    expect(await readers()).toEqual([]);
  });
});

describe('an upgrade boot', () => {
  it('runs the migrations of (old, new] in the real Cortex order: storage, model begins, listener, active, model completes', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.180.0', seed: 300 });
    const sim = await start({ dir, version: '2.182.0', migrationMs: 400 });
    await sim.waitForLog(/\.\.\.model migrations complete!/);
    const log = logMessages(sim.log()).filter((m) => !m.startsWith('Migrated '));
    const storage = ['Migrating Drive Slabs', '...Drive migration complete!', 'Building user email index for Cell (cortex)', '...user email index for Cell (cortex) complete!'];
    expect(log).toEqual([
      'Starting cortex version 2.182.0, Synapse version: 2.182.0',
      ...storage, // 2.181.0
      ...storage, // 2.182.0
      'beginning model migration -> (0, 2, 31)',
      `https listening: ${sim.port}`,
      'cell is active (leader)',
      ...DMON_TRACEBACK,
      'beginning model migration -> (0, 2, 32)',
      '...model migrations complete!',
    ]);
    expect(logMessages(sim.log())).toContain('Migrated 257 rows');
    expect((await simRequest({ dir, port: sim.port, path: '/api/v1/core/info' })).json.result.version).toEqual([2, 182, 0]);
    expect(await sim.stop()).toEqual({ code: 0, signal: null });

    expect(await inspectSimCell(dir)).toMatchObject({
      cellVersion: '2.182.0',
      synapseVersion: '2.182.0',
      vers: { 'sim:storage': 2 },
      layers: [{ modelVersion: '0.2.32', nodes: 257, migrated: { '2.181.0': 257, '2.182.0': 257 } }],
    });
  });

  it('is active before it is migrated; a stop mid model migration leaves it to the next boot, which finishes it', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.180.0', seed: 30 });
    const slow = await start({ dir, version: '2.181.0', migrationMs: 8000 });
    await slow.waitForLog(/cell is active/);
    expect((await simRequest({ dir, port: slow.port, path: '/api/v1/active' })).json.result.active).toBe(true);
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.181.0', vers: { 'sim:storage': 1 }, layers: [{ modelVersion: '0.2.30' }] });
    expect(await slow.stop()).toEqual({ code: 0, signal: null });
    expect(slow.log()).not.toContain('model migrations complete');

    const next = await start({ dir, version: '2.181.0', migrationMs: 100 });
    await next.waitForLog(/\.\.\.model migrations complete!/);
    expect(next.log()).not.toContain('Migrating Drive Slabs');
    expect(next.log()).toContain('beginning model migration -> (0, 2, 31)');
    await next.stop();
    expect(await inspectSimCell(dir)).toMatchObject({ layers: [{ modelVersion: '0.2.31' }] });
  });

  it('a release without migrations in the range boots without any migration line', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.183.0' });
    const sim = await start({ dir, version: '2.184.0' });
    await sim.waitForLog(/cell is active/);
    expect(logMessages(sim.log()).filter((m) => /migrat/i.test(m))).toEqual([]);
    await sim.stop();
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.184.0', layers: [{ modelVersion: '0.2.33' }] });
  });
});

describe('older code on newer data', () => {
  it('exits 1 with BadVersion (the real message) and writes nothing', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.182.0', seed: 10 });
    const before = fileDigests(dir);
    const sim = await start({ dir, version: '2.181.0' });
    expect(await sim.exited).toEqual({ code: 1, signal: null });
    expect(sim.log()).toContain('[ERROR] Cell version regression (cortex) is not allowed! Stored version: (2, 182, 0), current version: (2, 181, 0).');
    expect(sim.log().trimEnd().split('\n').at(-1)).toMatch(/^synapse\.exc\.BadVersion: BadVersion: currver=\(2, 181, 0\) lastver=\(2, 182, 0\)/);
    expect(sim.log()).not.toContain('https listening');
    expect(fileDigests(dir)).toEqual(before);
  });
});

describe('SIGTERM', () => {
  it('stops a serving cell: closes the envs, drops the lock, exits 0', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0', seed: 20 });
    await sim.waitForLog(/cell is active/);
    expect(await sim.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(logMessages(sim.log()).slice(-2)).toEqual(['Caught SIGTERM: shutting down.', 'cell shutdown complete']);
    expect(await findHolders(dir)).toEqual([]);
    expect(await inspectSimCell(dir)).toMatchObject({ cellVersion: '2.180.0', layers: [{ nodes: 17 }] });
  });

  it('tears down like a real Cortex: after "Caught SIGTERM" it still holds its lock and envs until it exits', async () => {
    const dir = newCellDir();
    const sim = await start({ dir, version: '2.180.0', seed: 20, args: ['--stop-ms', '1500'] });
    await sim.waitForLog(/cell is active/);
    const stopped = sim.stop('SIGTERM');
    await sim.waitForLog(/Caught SIGTERM: shutting down\./);
    expect((await findHolders(dir)).length).toBeGreaterThan(0);
    expect(await stopped).toEqual({ code: 0, signal: null });
    expect(await findHolders(dir)).toEqual([]);
  });

  it('stops a storage migration between batches: committed batches stay, the next boot redoes the rest', async () => {
    const dir = newCellDir();
    await createSimCell(dir, { version: '2.180.0', seed: 1400 });
    const slow = await start({ dir, version: '2.181.0', migrationMs: 60_000 });
    await slow.waitForLog(/Migrating Drive Slabs/);
    expect(await slow.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const stopped = await inspectSimCell(dir);
    expect(stopped).toMatchObject({ cellVersion: '2.181.0', vers: { 'sim:storage': 0 }, layers: [{ nodes: 1200 }] });
    expect(stopped.layers[0]!.migrated['2.181.0'] ?? 0).toBeLessThan(1200);

    const next = await start({ dir, version: '2.181.0', migrationMs: 200 });
    await next.waitForLog(/\.\.\.model migrations complete!/);
    await next.stop();
    expect(await inspectSimCell(dir)).toMatchObject({ vers: { 'sim:storage': 1 }, layers: [{ modelVersion: '0.2.31', migrated: { '2.181.0': 1200 } }] });
  });
});

describe('the fixture changelog', () => {
  it('declares the migrating releases by an "Automatic Migrations" (or "Automated") section, ordered by version not date', () => {
    expect(migratingReleases()).toEqual(['2.181.0', '2.182.0', '2.183.0']);
    const file = path.join(tempDir(), 'CHANGELOG.rst');
    writeFileSync(
      file,
      ['v2.10.0 - 2024-01-01', '====================', '', 'Automated Migrations', '--------------------', '- x', '',
        'v2.9.0 - 2024-06-01', '===================', '', 'Bugfixes', '--------', '- Automatic Migrations were fixed.', '',
        'v2.8.0 - 2023-01-01', '===================', '', 'Automatic Migrations', '--------------------', '- y', ''].join('\r\n'),
    );
    expect(migratingReleases(file)).toEqual(['2.8.0', '2.10.0']);
  });
});

describe('bad usage', () => {
  it.each([
    ['no --version', ['--port', '1']],
    ['a version that is not X.Y.Z', ['--version', '2.181']],
    ['an unknown fault', ['--version', '2.181.0', '--fault', 'explode']],
    ['a fault scoped to a non-version', ['--version', '2.181.0', '--fault', 'crash-on-boot@latest']],
    ['a port out of range', ['--version', '2.181.0', '--port', '70000']],
    ['a negative migration time', ['--version', '2.181.0', '--migration-ms=-5']],
    ['an unknown flag', ['--version', '2.181.0', '--colour']],
  ])('%s: exit 2 with the usage, nothing created', (_name, args) => {
    const dir = newCellDir();
    const run = spawnSync(process.execPath, [SIM_CELL_JS, dir, ...args], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/^cell\.js: .+\nusage: node test\/sim\/cell\.js <dir> --version X\.Y\.Z/);
    expect(existsSync(dir)).toBe(false);
  });

  it('SYN_SIM_FAULT is checked too', () => {
    const dir = newCellDir();
    const run = spawnSync(process.execPath, [SIM_CELL_JS, dir, '--version', '2.181.0'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SYN_SIM_FAULT: 'never-active,bogus@2.181.0' } });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('unknown fault "bogus" in "bogus@2.181.0"');
    expect(existsSync(dir)).toBe(false);
  });
});
