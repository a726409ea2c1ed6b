// Issue 20: compose upgrades across versions and image tags on a real Docker engine and registry: 2.180.0 → 2.250.0
// with Synapse's own healthcheck tool (whose module moved in 2.225.0), an operator whose file names the floating tag
// `v2.x.x`, and a target tag the registry does not have (refused before any downtime). Skipped with the reason when
// the container lab is not up.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { containerLab, containerLabSkipReason, cortexImage, docker } from '../support/container-lab.js';
import { active, composeCells, formCounts, inspectContainer, latestRun, seedTemplate, stampedLog } from '../support/compose-cells.js';
import { until } from '../support/lab-cortex.js';

const TO = '2.250.0';
const CARDS = 500;
const FLOATING = 'v2.x.x';

if (containerLabSkipReason) console.log(`container tests skipped: ${containerLabSkipReason}`);

/** The registry's digest of a tag (what `docker pull` records as RepoDigests). */
async function registryDigest(registry: string, repo: string, tag: string): Promise<string> {
  const r = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  const digest = r.headers.get('docker-content-digest');
  if (!r.ok || !digest) throw new Error(`no manifest for ${repo}:${tag} in ${registry} (HTTP ${r.status})`);
  return digest;
}

/**
 * Every file of a dir tree with the sha256 of its content, but LMDB files (`*.mdb`: sparse, up to GBs of holes, and
 * written by the running Cortex), which are only listed: "nothing on disk changed".
 */
function treeDigests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, file)] = entry.name.endsWith('.mdb') ? 'lmdb' : createHash('sha256').update(readFileSync(file)).digest('hex');
  }
  return out;
}

const events = (stdout: string) => stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type?: string; message?: string });

describe.skipIf(containerLabSkipReason !== null)('compose, for real: versions and tags (issue 20)', () => {
  const lab = containerLab!;
  const cells = composeCells(lab, 'vers');
  const templates: Record<string, string> = {};
  const repo = 'vertexproject/synapse-cortex';
  let floatingPushed = false;

  beforeAll(async () => {
    templates['2.180.0'] = await seedTemplate(cells, { cards: CARDS, version: '2.180.0', name: 'vers-2180' });
    templates['2.242.0'] = await seedTemplate(cells, { cards: CARDS, version: '2.242.0', name: 'vers-2242' });
  }, 900_000);

  afterEach(async () => {
    await cells.removeAll();
  });

  afterAll(async () => {
    await cells.removeAll();
    for (const dir of Object.values(templates)) rmSync(dir, { recursive: true, force: true });
    // the local tag this file made (the image itself keeps its version tags); the registry's tag stays, at TO
    if (floatingPushed) await docker(lab, ['image', 'rm', `${lab.registry}/${repo}:${FLOATING}`]);
  });

  it(`2.180.0 → ${TO} with health.check: tool (synapse.tools.healthcheck before the stop, synapse.tools.service.healthcheck after): every node kept, the model migrated, Docker's healthcheck healthy`, async () => {
    const cell = await cells.newCell({ from: templates['2.180.0'], version: '2.180.0', health: { check: 'tool' }, compose: { updateFile: true } });
    expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
    await active(cell);
    const before = await formCounts(cell);
    const result = await cell.synup(['upgrade', '--to', TO, '--backup', '-y', '--json'], 900_000);
    expect(result.exitCode, `${result.stderr}\n${result.stdout}`).toBe(0);
    const progress = events(String(result.stdout)).filter((e) => e.type === 'progress').map((e) => e.message ?? '');
    expect(progress.some((m) => m.includes('logged no model migration'))).toBe(false);
    expect((await readCellInfo(cell.cellDir)).cellVersion).toBe(TO);
    const log = await stampedLog(cell);
    const complete = log.filter(([, text]) => text.includes('model migrations complete')).at(-1);
    expect(complete, 'the 2.250.0 boot logged the end of its model migration').toBeDefined();
    const run = await latestRun(cell);
    expect(run?.outcome).toBe('done');
    expect(Date.parse(run!.data.migratedAt!)).toBeGreaterThanOrEqual(Date.parse(complete![0]));
    await active(cell);
    const after = await formCounts(cell);
    expect({ cards: after['econ:pay:card'], fqdns: after['inet:fqdn'], pans: after['econ:pay:pan'] }).toEqual({ cards: before['econ:pay:card'], fqdns: before['inet:fqdn'], pans: CARDS });
    const state = (await inspectContainer(lab, cell))!;
    expect(state.Config.Image).toBe(cortexImage(lab, TO));
    await until('Docker to report the container healthy', 180_000, async () => ((await inspectContainer(lab, cell))?.State.Health?.Status === 'healthy' ? true : null));
    // the operator's file was updated (updateFile), so their own `up -d` keeps TO
    expect(readFileSync(path.join(cell.work, 'docker-compose.yaml'), 'utf8')).toContain(cortexImage(lab, TO));
    const summary = JSON.parse(String(result.stdout).trim().split('\n').at(-1)!) as Record<string, unknown>;
    console.log(`compose 2.180.0 → ${TO} (health tool): downtime ${String(summary.downtimeMs)} ms, migrated ${String(summary.migratedMs)} ms`);
  }, 1_200_000);

  it(`an operator's file naming the floating tag ${FLOATING} (Vertex moved it to ${TO}): status reads the version from the data; upgrade journals the digest it pulled and runs it; \`docker compose pull && up -d\` keeps ${TO}`, async () => {
    const floating = `${lab.registry}/${repo}:${FLOATING}`;
    // The operator pulled v2.x.x when it was 2.242.0 …
    for (const args of [['tag', cortexImage(lab, '2.242.0'), floating], ['push', floating]]) expect((await docker(lab, args, { timeoutMs: 300_000 })).exitCode).toBe(0);
    floatingPushed = true;
    const cell = await cells.newCell({ from: templates['2.242.0'], image: floating });
    expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
    await active(cell);
    // … and Vertex has since moved it to TO (the registry's tag; the operator's engine still has the old one)
    for (const args of [['tag', cortexImage(lab, TO), floating], ['push', floating], ['tag', cortexImage(lab, '2.242.0'), floating]]) expect((await docker(lab, args, { timeoutMs: 300_000 })).exitCode).toBe(0);
    const target = await registryDigest(lab.registry, repo, `v${TO}`);
    expect(await registryDigest(lab.registry, repo, FLOATING)).toBe(target);

    const status = JSON.parse(String((await cell.synup(['status', '--json'])).stdout)) as Record<string, unknown>;
    expect(status).toMatchObject({ running: true, dataVersion: '2.242.0' });
    expect(status.configuredVersion ?? null).toBeNull();
    expect(JSON.stringify(status)).toContain(`image ${floating} has a floating tag`);

    const result = await cell.synup(['upgrade', '--to', TO, '--backup', '-y', '--json']);
    expect(result.exitCode, `${result.stderr}\n${result.stdout}`).toBe(0);
    const run = (await latestRun(cell))!;
    expect(run.from).toBe('2.242.0');
    expect(run.data.prepared?.digests).toContain(`${lab.registry}/${repo}@${target}`);
    expect(run.data.runningArtifacts?.id).toBe(run.data.prepared?.id);
    expect((await inspectContainer(lab, cell))!.Image).toBe(run.data.prepared?.id);
    const progress = events(String(result.stdout)).filter((e) => e.type === 'progress').map((e) => e.message ?? '');
    const warning = progress.find((m) => m.startsWith('WARNING:') && m.includes(FLOATING));
    console.log(`floating tag: pulled ${run.data.prepared?.digests.join(', ')}; pin: ${warning ?? progress.find((m) => m.includes(FLOATING)) ?? '(nothing said)'}`);
    expect(warning, 'a plain `up -d` would start the old image the local v2.x.x still names: synup says so').toBeDefined();

    // The operator's routine for a floating tag: pull, then up -d. The registry's v2.x.x is TO: it keeps running TO.
    for (const args of [['pull', 'cortex'], ['up', '-d', 'cortex']]) {
      const r = await cell.compose(args, 300_000);
      expect(r.exitCode, String(r.stderr)).toBe(0);
    }
    expect((await inspectContainer(lab, cell))!.Image).toBe(run.data.prepared?.id);
    await active(cell);
    expect((await readCellInfo(cell.cellDir)).cellVersion).toBe(TO);
  }, 900_000);

  it('a target tag the registry does not have is refused before any downtime: exit non-zero, the same container still running, nothing on disk changed', async () => {
    const missing = '2.249.0'; // in the changelog, never pushed to the lab's registry
    const cell = await cells.newCell({ from: templates['2.242.0'] });
    expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
    await active(cell);
    const before = (await inspectContainer(lab, cell))!;
    const files = () => ({
      compose: readFileSync(path.join(cell.work, 'docker-compose.yaml'), 'utf8'),
      beside: readdirSync(cell.work).sort(),
      beside_cell: readdirSync(path.dirname(cell.cellDir)).filter((n) => n.startsWith('cortex00')),
    });
    const filesBefore = files();
    const cellBefore = treeDigests(cell.cellDir);
    const result = await cell.synup(['upgrade', '--to', missing, '--backup', '-y']);
    expect(result.exitCode, result.stderr).not.toBe(0);
    expect(result.exitCode).not.toBe(4);
    // the registry's own answer, not compose's progress line (` cortex Pulling`) that came first on its stderr
    expect(result.stderr).toMatch(new RegExp(`^synup: .*pull cortex\` failed \\(exit \\d+\\): .*synapse-cortex:v${missing.replaceAll('.', '\\.')} not found`, 'm'));
    console.log(`missing tag: exit ${result.exitCode}: ${result.stderr.trim().split('\n').filter((l) => l.startsWith('synup:')).join(' / ')}`);
    const after = (await inspectContainer(lab, cell))!;
    expect({ id: after.Id, started: after.State.StartedAt, restarts: after.RestartCount, running: after.State.Running, image: after.Config.Image }).toEqual({
      id: before.Id,
      started: before.State.StartedAt,
      restarts: before.RestartCount,
      running: true,
      image: cortexImage(lab, '2.242.0'),
    });
    // synup's state dir is its own; the operator's files, the cell's siblings and the cell's files are as before
    const filesAfter = files();
    expect({ ...filesAfter, beside: filesAfter.beside.filter((n) => n !== 'state') }).toEqual({ ...filesBefore, beside: filesBefore.beside.filter((n) => n !== 'state') });
    expect(existsSync(path.join(cell.work, 'backups'))).toBe(false);
    // the running Cortex may write to its envs meanwhile: the files it does not write are unchanged, none added or gone
    const cellAfter = treeDigests(cell.cellDir);
    expect(Object.keys(cellAfter).sort()).toEqual(Object.keys(cellBefore).sort());
    for (const name of ['cell.guid', 'cell.yaml', 'sslcert.pem', 'sslkey.pem']) expect(cellAfter[name], name).toBe(cellBefore[name]);
    expect((await readCellInfo(cell.cellDir)).cellVersion).toBe('2.242.0');
    await active(cell);
  }, 600_000);
});
