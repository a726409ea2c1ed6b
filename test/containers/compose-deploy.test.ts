// Issue 20: Vertex's deployment-guide topology in docker compose, upgraded by `synup deploy upgrade` while a client
// writes: AHA, an Axon, a JSONStor and a Cortex leader with its mirror, each its own compose project in its own dir
// (`<service>/docker-compose.yaml`, storage `./storage` at /vertex/storage, uid 999, `restart: unless-stopped`), every
// service provisioned through AHA (`synapse.tools.aha.provision.service` run in AHA's container, `aha:provision:`), the
// mirror cloned from its leader through AHA. The services reach AHA by its name on a Docker network made for this test
// (`aha.synapse`, a network alias); the test reaches them only through ports published on 127.0.0.1. synup runs
// the mirror commands (nexus index, Synapse's graceful promote) inside the containers through the compose adapter.
// Skipped with the reason when the container lab is not up.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { containerLab, containerLabSkipReason, docker, freePort, labEnv } from '../support/container-lab.js';
import { synup } from '../support/helpers.js';
import { api, isActive, NEXUS_INDEX, nodesUnder, until, writeNode, writeThroughout } from '../support/lab-cortex.js';

const FROM = '2.242.0';
const TO = '2.250.0';
const SEEDS = 5;
/** Payment cards on the leader: the promoted mirror's model migration (0, 2, 36) has work to do while clients write. */
const CARDS = 1000;

if (containerLabSkipReason) console.log(`container tests skipped: ${containerLabSkipReason}`);

interface Service {
  name: string;
  kind: 'aha' | 'axon' | 'jsonstor' | 'cortex';
  dir: string;
  /** Its cell dir (bind-mounted at /vertex/storage). */
  storage: string;
  port: number;
}

describe.skipIf(containerLabSkipReason !== null)("compose, for real: Vertex's deployment-guide topology upgraded by synup deploy upgrade (issue 20)", () => {
  const lab = containerLab!;
  const prefix = `synupctdep${process.pid}`;
  const work = path.join(os.tmpdir(), `${prefix}-${Date.now()}`);
  const services: Service[] = [];
  let network = false;

  const compose = (s: Service, args: string[], timeoutMs?: number) => docker(lab, ['compose', '-f', path.join(s.dir, 'docker-compose.yaml'), ...args], { timeoutMs });

  afterAll(async () => {
    for (const s of [...services].reverse()) await compose(s, ['down', '-v', '-t', '5']);
    if (network) await docker(lab, ['network', 'rm', prefix]);
    rmSync(work, { recursive: true, force: true });
  });

  async function addService(name: string, kind: Service['kind'], cellYaml: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Service> {
    const s: Service = { name, kind, dir: path.join(work, name), storage: path.join(work, name, 'storage'), port: await freePort() };
    mkdirSync(s.storage, { recursive: true });
    writeFileSync(path.join(s.storage, 'cell.yaml'), stringify({ 'https:port': 4443, ...cellYaml }));
    const { execFileSync } = await import('node:child_process');
    execFileSync('chown', ['-R', '999:999', s.storage]);
    writeFileSync(
      path.join(s.dir, 'docker-compose.yaml'),
      stringify({
        name: `${prefix}-${name}`,
        services: { [name]: { image: `${lab.registry}/vertexproject/synapse-${kind}:v${FROM}`, user: '999', restart: 'unless-stopped', volumes: ['./storage:/vertex/storage'], ports: [`127.0.0.1:${s.port}:4443`], stop_grace_period: '30s', ...extra } },
        networks: { synup: { external: true, name: prefix } },
      }),
    );
    services.push(s);
    const up = await compose(s, ['up', '-d']);
    expect(up.exitCode, String(up.stderr)).toBe(0);
    return s;
  }

  /** A provisioning URL from AHA for `name` (`--mirror cortex` for a mirror of the leader alias). */
  const provision = (aha: Service, name: string, extra: string[] = []) =>
    until(`AHA to provision ${name}`, 120_000, async () => {
      const r = await compose(aha, ['exec', '-T', 'aha', 'python', '-m', 'synapse.tools.aha.provision.service', '--url', 'cell:///vertex/storage/', name, ...extra, '--only-url']);
      const url = String(r.stdout).trim();
      return r.exitCode === 0 && url.startsWith('ssl://') ? url : null;
    });
  const cortexOf = (s: Service) => ({ dir: s.storage, port: s.port });
  const answers = (s: Service) => until(`${s.name} to answer on 127.0.0.1:${s.port}`, 180_000, async () => (typeof (await isActive(cortexOf(s))) === 'boolean' ? true : null));

  it('AHA, Axon, JSONStor, then the mirror, the graceful hand-off through AHA and the old leader as its mirror: every acknowledged write on both cells, every service at 2.250.0', async () => {
    mkdirSync(work, { recursive: true });
    expect((await docker(lab, ['network', 'create', prefix])).exitCode).toBe(0);
    network = true;
    const onNetwork = (aliases: string[] = []) => ({ networks: { synup: aliases.length ? { aliases } : {} } });
    const aha = await addService('aha', 'aha', { 'aha:name': 'aha', 'aha:network': 'synapse', 'dns:name': 'aha.synapse' }, onNetwork(['aha.synapse']));
    await answers(aha);
    const axon = await addService('axon00', 'axon', { 'aha:provision': await provision(aha, '00.axon') }, onNetwork());
    const jsonstor = await addService('jsonstor00', 'jsonstor', { 'aha:provision': await provision(aha, '00.jsonstor') }, onNetwork());
    const cortexEnv = { environment: ['SYN_CORTEX_AXON=aha://axon...', 'SYN_CORTEX_JSONSTOR=aha://jsonstor...'] };
    const cortex00 = await addService('cortex00', 'cortex', { 'aha:provision': await provision(aha, '00.cortex'), 'auth:passwd': 'secret' }, { ...onNetwork(), ...cortexEnv });
    await until('the leader to be active', 180_000, async () => ((await isActive(cortexOf(cortex00)).catch(() => false)) ? true : null));
    for (let i = 0; i < SEEDS; i++) expect(await writeNode(cortexOf(cortex00), `seed${i}.deploy.example.com`)).toBe(true);
    const seeded = await api(cortexOf(cortex00), 'POST', '/api/v1/storm/call', { query: 'for $i in $lib.range($c) { [econ:pay:card=* :pan=`4111110000{$i}`] } fini { return((0)) }', opts: { vars: { c: CARDS } } }, 600_000);
    expect(seeded.status, seeded.text.slice(0, 300)).toBe(200);
    const cortex01 = await addService('cortex01', 'cortex', { 'aha:provision': await provision(aha, '01.cortex', ['--mirror', 'cortex']), 'auth:passwd': 'secret' }, { ...onNetwork(), ...cortexEnv });
    await until('the mirror to answer as a passive mirror with the seed nodes', 300_000, async () =>
      (await isActive(cortexOf(cortex01)).catch(() => null)) === false && (await nodesUnder(cortexOf(cortex01), 'deploy.example.com')).length === SEEDS ? true : null,
    );
    for (const s of [axon, jsonstor]) await answers(s);

    for (const s of services) {
      writeFileSync(
        path.join(work, `${s.name}.yaml`),
        stringify({
          cell: { name: s.name, dir: `./${s.name}/storage`, ...(s.kind === 'cortex' ? { role: s === cortex01 ? 'mirror' : 'leader' } : {}) },
          state: { dir: './state' },
          backup: { dir: `./backups/${s.name}`, maxAge: '1h' },
          service: { adapter: 'compose', stopTimeout: '30s', compose: { file: `${s.name}/docker-compose.yaml`, service: s.name, image: `${lab.registry}/vertexproject/synapse-${s.kind}`, updateFile: true } },
          health: { check: 'https', port: s.port, startTimeout: '3m' },
        }),
      );
    }
    writeFileSync(
      path.join(work, 'deployment.yaml'),
      stringify({
        name: 'guide',
        state: { dir: './state' },
        // the file's roles are checked against AHA's, asked in AHA's container
        aha: { url: 'cell:///vertex/storage/', command: ['docker', 'compose', '-f', path.join(aha.dir, 'docker-compose.yaml'), 'exec', '-T', 'aha', 'python', '-c', '{script}', '{url}'], timeout: '60s' },
        // run in each Cortex's container by the compose adapter (`docker compose exec -T <service> …`)
        mirror: { nexusIndex: ['python', '-c', NEXUS_INDEX, 'cell:///vertex/storage/'], promote: ['python', '-m', 'synapse.tools.service.promote', '--svcurl', 'cell:///vertex/storage/'], catchUpTimeout: '120s' },
        services: [
          { name: 'aha', kind: 'aha', config: 'aha.yaml' },
          { name: 'axon00', kind: 'axon', config: 'axon00.yaml' },
          { name: 'jsonstor00', kind: 'jsonstor', config: 'jsonstor00.yaml' },
          { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml' },
          { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00' },
        ],
      }),
    );
    const run = (args: string[]) => synup(args, { cwd: work, env: { ...labEnv(lab), SYNUP_HEALTH_PASSWORD: 'secret' }, timeout: 900_000 });

    const writer = writeThroughout([cortexOf(cortex00), cortexOf(cortex01)], 'deploy.example.com');
    const started = Date.now();
    const deployed = await run(['deploy', 'upgrade', '--to', TO, '--backup', '-y']);
    const tookMs = Date.now() - started;
    const written = await writer.stop();
    expect(deployed.exitCode, deployed.stderr.slice(-4000)).toBe(0);
    const order = [...deployed.stderr.matchAll(/^(?:\[\S+\] )?\[deploy\/(\S+)\] done: /gm)].map((m) => m[1]);
    // the first tier's lanes may run side by side (--parallel): in any order, all before the Cortex tier
    expect(order.slice(0, 3).sort()).toEqual(['upgrade:aha', 'upgrade:axon00', 'upgrade:jsonstor00']);
    expect(order.slice(3)).toEqual(['upgrade-mirror:cortex01', 'catch-up:cortex01', 'promote:cortex01', 'upgrade-old-leader:cortex00', 'catch-up:cortex00']);
    const promotion = /\[deploy\/promote:cortex01\] done: (.*)/.exec(deployed.stderr)?.[1];
    expect(promotion).toMatch(/promoted in \d+ ms \(hand-off\).*; active; \d+ migration step\(s\) ran on the new leader and finished$/);
    expect(deployed.stderr).not.toMatch(/WARNING: docker-compose\.yaml still names/);

    // Every service's data is at TO, and each operator file names TO (updateFile), so their own `up -d` keeps it.
    for (const s of services) {
      expect((await readCellInfo(s.storage)).cellVersion, s.name).toBe(TO);
      expect(readFileSync(path.join(s.dir, 'docker-compose.yaml'), 'utf8'), s.name).toContain(`synapse-${s.kind}:v${TO}`);
    }
    const status = JSON.parse(String((await run(['deploy', 'status', '--json'])).stdout)) as { services: { name: string; role: string; aha?: Record<string, unknown> }[] };
    expect(status.services.find((s) => s.name === 'cortex01')).toMatchObject({ role: 'leader', aha: expect.objectContaining({ name: '01.cortex.synapse', role: 'leader' }) });
    expect(status.services.find((s) => s.name === 'cortex00')).toMatchObject({ role: 'mirror of cortex01', aha: expect.objectContaining({ name: '00.cortex.synapse', role: 'mirror', leader: '01.cortex.synapse' }) });
    expect(await isActive(cortexOf(cortex01))).toBe(true);
    expect(await isActive(cortexOf(cortex00))).toBe(false);

    // No acknowledged write lost: all on the new leader, and its mirror replicates them.
    expect(written.acked.length).toBeGreaterThan(20);
    const onLeader = await nodesUnder(cortexOf(cortex01), 'deploy.example.com');
    expect(written.acked.map((a) => a.name).filter((n) => !onLeader.includes(n))).toEqual([]);
    await until('the old leader to replicate every write', 120_000, async () => ((await nodesUnder(cortexOf(cortex00), 'deploy.example.com')).length === onLeader.length ? true : null));
    // The new leader's model migration ran: a pan for every card; and the Cortex still reaches its JSONStor through AHA.
    const counts = JSON.parse((await api(cortexOf(cortex01), 'POST', '/api/v1/storm/call', { query: 'return($lib.view.get().getFormCounts())' })).text).result as Record<string, number>;
    expect({ cards: counts['econ:pay:card'], pans: counts['econ:pay:pan'] }).toEqual({ cards: CARDS, pans: CARDS });
    const stored = await api(cortexOf(cortex01), 'POST', '/api/v1/storm/call', { query: '$lib.jsonstor.set((synup, check), ({"ok": 1})) return($lib.jsonstor.get((synup, check)))' });
    expect(JSON.parse(stored.text)).toMatchObject({ status: 'ok', result: { ok: 1 } });
    console.log(`deployment-guide topology in compose, ${FROM} → ${TO}: deploy upgrade ${(tookMs / 1000).toFixed(1)} s; ${written.acked.length} writes acknowledged (all on both cells), ${written.failed} failed, longest gap ${written.longestGap} ms; promotion: ${promotion}`);
  }, 1_500_000);
});
