import { appendFileSync, cpSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from '../support/helpers.js';
import { createSimCell, inspectSimCell, simRequest } from '../sim/index.js';
import { useSims } from '../sim/testing.js';
import { waitFor } from '../support/budget.js';

const sims = useSims();
const tool = (name: string, args: string[]) => execa(process.execPath, [path.join(repoRoot, 'test', 'sim', name), ...args], { reject: false, timeout: 60_000 });

function write(dir: string, port: number, name: string): Promise<{ status: number; json: { status: string; code?: string; result?: { offs: number } } }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/api/v1/sim/nodes', method: 'POST', ca: readFileSync(path.join(dir, 'sslcert.pem')) }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ name }));
  });
}

/** A leader at 2.180.0 and its mirror (a copy of its data with mirror: its URL), the mirror at `mirrorVersion`. */
async function pair(mirrorVersion: string) {
  const work = tempDir('synup-sim-mirror-');
  const leaderDir = path.join(work, 'leader');
  const mirrorDir = path.join(work, 'mirror');
  await createSimCell(leaderDir, { version: '2.180.0', seed: 100 });
  cpSync(leaderDir, mirrorDir, { recursive: true });
  const leader = await sims.start({ dir: leaderDir, version: '2.180.0' });
  appendFileSync(path.join(mirrorDir, 'cell.yaml'), `mirror: https://127.0.0.1:${leader.port}/\n`);
  const mirror = await sims.start({ dir: mirrorDir, version: mirrorVersion, migrationMs: 400 });
  await leader.waitForLog(/cell is active \(leader\)/);
  await mirror.waitForLog(/cell is passive \(mirror of https:\/\/127\.0\.0\.1:\d+\/\)/);
  const index = async (dir: string, port: number) => Number((await tool('nexus-index.js', [dir, String(port)])).stdout);
  return { leaderDir, mirrorDir, leader, mirror, index };
}

describe('the sim as a mirror', () => {
  it("follows its leader's writes, is passive, refuses writes and runs no migration at a newer version", async () => {
    const { leaderDir, mirrorDir, leader, mirror, index } = await pair('2.182.0');
    for (let i = 0; i < 20; i++) expect((await write(leaderDir, leader.port, `w${i}`)).json.result?.offs).toBe(i);
    expect(await write(mirrorDir, mirror.port, 'nope')).toMatchObject({ status: 503, json: { code: 'NotLeader' } });
    expect((await simRequest({ dir: mirrorDir, port: mirror.port, path: '/api/v1/active' })).json.result.active).toBe(false);
    await waitFor(async () => (await index(mirrorDir, mirror.port)) >= 20, 'the mirror reaches index 20', { intervalMs: 100 });
    expect(await index(mirrorDir, mirror.port)).toBe(20);
    expect(await index(leaderDir, leader.port)).toBe(20);
    const state = await inspectSimCell(mirrorDir, { names: true });
    expect(state.names).toHaveLength(20);
    expect(state).toMatchObject({ cellVersion: '2.182.0', vers: { 'sim:storage': 0 }, layers: [{ modelVersion: '0.2.30', migrated: {} }] });
    expect(mirror.log()).not.toMatch(/Migrating Drive Slabs|beginning model migration/);
  });

  it('graceful promotion: the leader hands off and follows; the new leader runs the migrations, which the old one replays', async () => {
    const { leaderDir, mirrorDir, leader, mirror, index } = await pair('2.182.0');
    for (let i = 0; i < 5; i++) await write(leaderDir, leader.port, `before${i}`);
    const promoted = await tool('promote.js', [mirrorDir, String(mirror.port)]);
    expect(promoted.stdout).toMatch(/^Promoting to leader: https:\/\/127\.0\.0\.1:\d+\/$/m);
    expect(promoted.exitCode).toBe(0);
    expect((await simRequest({ dir: mirrorDir, port: mirror.port, path: '/api/v1/active' })).json.result.active).toBe(true);
    expect((await simRequest({ dir: leaderDir, port: leader.port, path: '/api/v1/active' })).json.result.active).toBe(false);
    expect(await write(leaderDir, leader.port, 'to-old')).toMatchObject({ status: 503 });
    expect((await write(mirrorDir, mirror.port, 'after')).status).toBe(200);
    await mirror.waitForLog(/\.\.\.model migrations complete!/);
    expect(leader.log()).toMatch(/HANDOFF: Done performing the leadership handoff/);
    expect(readFileSync(path.join(leaderDir, 'cell.mods.yaml'), 'utf8')).toBe(`mirror: https://127.0.0.1:${mirror.port}/\n`);
    await waitFor(async () => (await index(leaderDir, leader.port)) >= (await index(mirrorDir, mirror.port)), 'the new mirror catches up', { intervalMs: 100 });
    const [now, old] = [await inspectSimCell(mirrorDir, { names: true }), await inspectSimCell(leaderDir, { names: true })];
    expect(now).toMatchObject({ vers: { 'sim:storage': 2 }, layers: [{ modelVersion: '0.2.32' }] });
    expect(now.names).toEqual(['after', 'before0', 'before1', 'before2', 'before3', 'before4']);
    expect(old.layers).toEqual(now.layers);
    expect(old.names).toEqual(now.names);
    expect(old.vers['sim:storage']).toBe(2);
  });

  it('promotion refusals: a leader is not promotable (exit 1); --failure promotes a mirror whose leader is gone', async () => {
    const { leaderDir, mirrorDir, leader, mirror } = await pair('2.180.0');
    const notMirror = await tool('promote.js', [leaderDir, String(leader.port)]);
    expect(notMirror.stdout).toMatch(/^Failed to promote service to being a leader; promote\(\) called on non-mirror$/m);
    expect(notMirror.exitCode).toBe(1);
    await leader.stop();
    const graceful = await tool('promote.js', [mirrorDir, String(mirror.port)]);
    expect(graceful.exitCode).toBe(1);
    expect(graceful.stdout).toMatch(/Failed to promote service to being a leader; .*ECONNREFUSED/);
    const failure = await tool('promote.js', [mirrorDir, String(mirror.port), '--failure']);
    expect(failure.exitCode).toBe(0);
    expect((await simRequest({ dir: mirrorDir, port: mirror.port, path: '/api/v1/active' })).json.result.active).toBe(true);
    const usage = await tool('promote.js', [mirrorDir]);
    expect(usage.exitCode).toBe(2);
  });
});
