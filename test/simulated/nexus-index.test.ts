// readNexusIndex (src/lmdb/nexus.ts): a stopped cell's nexus index from its files, as Synapse computes it at boot;
// promotionShortfall (src/deploy/mirror.ts), the verdict the failure-mode promotion takes from it.
// On sim cells (the sim keeps its nexus in Synapse 2.x's layout) and, with SYN_LAB, on real lab Cortexes of each
// version the lab has (with the nexus log, and without it: the hot count): the index read from the files equals what
// the running Cortex answered just before its stop.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { readNexusIndex } from '../../src/lmdb/nexus.js';
import { promotionShortfall } from '../../src/deploy/mirror.js';
import { SynupError } from '../../src/errors.js';
import { createSimCell, simRequest } from '../sim/index.js';
import { fileDigests, useSims } from '../sim/testing.js';
import { repoRoot, runCortexScript, tempDir } from '../support/helpers.js';
import { api, groupMembers, killGroups, LAB, labSkipReason, until } from '../support/lab-cortex.js';
import { simWrite } from '../support/deploy-harness.js';

const sims = useSims();


describe('readNexusIndex on sim cells', () => {
  it("a stopped leader's index from its files is the one it answered; a boot sets the hot count to it", async () => {
    const work = tempDir('synup-nexus-sim-');
    const dir = path.join(work, 'leader');
    await createSimCell(dir, { version: '2.180.0', seed: 20 });
    expect(await readNexusIndex(dir)).toEqual({ index: 0, layout: 'multislab', logIndex: 0, hotIndex: 0 });
    const leader = await sims.start({ dir, version: '2.180.0' });
    await leader.waitForLog(/cell is active \(leader\)/);
    for (let i = 0; i < 37; i++) expect(await simWrite(dir, leader.port, `w${i}`)).toBe(200);
    const answered = (await simRequest({ dir, port: leader.port, path: '/api/v1/sim/nexus/indx' })).json.result.indx as number;
    expect(answered).toBe(37);
    expect((await leader.stop('SIGTERM')).code).toBe(0);
    const before = fileDigests(dir);
    expect(await readNexusIndex(dir)).toEqual({ index: 37, layout: 'multislab', logIndex: 37, hotIndex: 0 });
    // Read-only: nothing changed, and no lock file was left where there was none.
    expect(fileDigests(dir)).toEqual(before);
    // A boot sets the hot count to the log's index, as NexsRoot does.
    const again = await sims.start({ dir, version: '2.180.0' });
    await again.waitForLog(/cell is active \(leader\)/);
    await again.stop('SIGTERM');
    expect(await readNexusIndex(dir)).toEqual({ index: 37, layout: 'multislab', logIndex: 37, hotIndex: 37 });
  });

  it("the v1 layout (before the multislab log: a nexuslog db inside slabs/nexus.lmdb, nexs:indx version 1)", async () => {
    const dir = tempDir('synup-nexus-v1-');
    // Written in a child process, as Synapse's NexsRoot v1 kept it (lmdb-js keeps envs open in the process that opened them).
    const write = `import '${path.join(repoRoot, 'dist', 'lmdb', 'binding.js')}';
      import { open } from 'lmdb';
      const env = open({ path: process.argv[1], noSubdir: false, maxDbs: 8, encoding: 'binary', keyEncoding: 'binary' });
      const n = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(v)); return b; };
      const log = env.openDB({ name: 'nexuslog', encoding: 'binary', keyEncoding: 'binary' });
      for (let i = 0; i < 25; i++) log.putSync(n(i), Buffer.from([0x90]));
      const counts = env.openDB({ name: 'nexs:indx', encoding: 'binary', keyEncoding: 'binary' });
      counts.putSync(Buffer.from('version'), n(1));
      counts.putSync(Buffer.from('nexs:indx'), n(20));
      await env.close();`;
    await execa(process.execPath, ['--input-type=module', '-e', write, path.join(dir, 'slabs', 'nexus.lmdb')]);
    expect(await readNexusIndex(dir)).toEqual({ index: 25, layout: 'v1', logIndex: 25, hotIndex: 20 });
  });

  it('a dir without a nexus: a clear error, nothing created', async () => {
    const dir = tempDir('synup-nexus-empty-');
    mkdirSync(path.join(dir, 'slabs'));
    const error = await readNexusIndex(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SynupError);
    expect((error as SynupError).message).toBe(`${dir} has no slabs/nexus.lmdb/data.mdb: no Synapse nexus to read the index from`);
    expect((error as SynupError).code).toBe('failed');
    expect(readdirSync(dir)).toEqual(['slabs']);
    expect(readdirSync(path.join(dir, 'slabs'))).toEqual([]);
  });
});

describe("promotionShortfall: the failure-mode check's verdict on the mirror to promote", () => {
  const leader = (index: number) => ({ index, text: `cortex00 stopped at ${index} (its files)` });
  it('none when the mirror has every entry of the stopped leader and of the other mirrors', () => {
    expect(promotionShortfall('cortex01', 40, [leader(40), { index: 38, text: 'the other mirror cortex02 at 38' }])).toBeNull();
    expect(promotionShortfall('cortex01', 41, [leader(40)])).toBeNull();
  });
  it('names every cell ahead, highest first, and how many entries would be lost', () => {
    expect(promotionShortfall('cortex01', 39, [leader(40)])).toBe('cortex01 has nexus index 39, less than cortex00 stopped at 40 (its files): promoting it would lose 1 entry');
    // Another mirror ahead of the promoted one would hold entries the new leader never had: it would diverge.
    expect(promotionShortfall('cortex01', 40, [leader(40), { index: 43, text: 'the other mirror cortex02 at 43' }])).toBe('cortex01 has nexus index 40, less than the other mirror cortex02 at 43: promoting it would lose 3 entries');
    expect(promotionShortfall('cortex01', 30, [leader(40), { index: 35, text: 'the other mirror cortex02 at 35' }])).toBe('cortex01 has nexus index 30, less than cortex00 stopped at 40 (its files) and the other mirror cortex02 at 35: promoting it would lose 10 entries');
  });
});

const skipReason = labSkipReason;
if (skipReason) console.warn(`readNexusIndex on real Cortexes skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('readNexusIndex on real lab Cortexes (SYN_LAB)', () => {
  const groups: number[] = [];
  afterAll(() => killGroups(groups));

  it.each([
    ['2.180.0', true],
    ['2.242.0', true],
    ['2.250.0', true],
    ['2.250.0', false],
  ])("%s, nexslog:en %s: the stopped Cortex's files give the index it answered", async (version, nexslog) => {
    const lab = LAB!;
    const work = tempDir('synup-nexus-real-');
    const dir = path.join(work, 'cortex');
    mkdirSync(dir);
    const base = 32500 + Math.floor(Math.random() * 240) * 2;
    const cortex = { dir, port: base };
    writeFileSync(path.join(dir, 'cell.yaml'), `https:port: ${base}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${base + 1}/\nnexslog:en: ${nexslog}\n`);
    const fd = openSync(path.join(work, 'cortex.log'), 'a');
    const child = spawn(runCortexScript, [path.join(lab, `src-v${version}`), dir], { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, SYNDEV_CELL_DRIVE_NOSPAWN: '1' } });
    closeSync(fd);
    groups.push(child.pid!);
    const storm = async (query: string) => JSON.parse((await api(cortex, 'POST', '/api/v1/storm/call', { query })).text) as { status: string; result: unknown };
    await until(`the ${version} Cortex to answer Storm`, 180_000, async () => ((await storm('return($lib.true)')).status === 'ok' ? true : null));
    for (let i = 0; i < 3; i++) expect((await storm(`[inet:fqdn=n${i}.nexus.example.com] return($node.repr())`)).status).toBe('ok');
    const info = (await storm('return($lib.cell.getCellInfo())')).result as { cell: { nexsindx: number } };
    process.kill(-child.pid!, 'SIGTERM');
    await until('the Cortex to be gone', 60_000, async () => (groupMembers(child.pid!).length === 0 ? true : null));
    const reading = await readNexusIndex(dir);
    expect(reading.index).toBeGreaterThan(0);
    // With the log (what a mirror's leader keeps), its last entry tells; without it only the hot count does.
    expect(reading).toMatchObject(nexslog ? { index: info.cell.nexsindx, layout: 'multislab', logIndex: info.cell.nexsindx } : { index: info.cell.nexsindx, layout: 'multislab', logIndex: 0, hotIndex: info.cell.nexsindx });
    console.log(`real Cortex ${version}, nexslog:en ${nexslog}: nexus index ${info.cell.nexsindx} answered, ${JSON.stringify(reading)} from its files`);
  }, 300_000);
});
