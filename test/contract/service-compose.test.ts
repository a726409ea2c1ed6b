import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { SynupError } from '../../src/errors.js';
import { OVERRIDE_MARKER } from '../../src/service/compose.js';
import { createAdapter } from '../../src/service/index.js';
import { fakeWorld } from '../fakes/index.js';
import { firstFollowed, tempDir } from '../support/helpers.js';

const COMPOSE = `services:
  cortex:
    image: vertexproject/synapse-cortex:v2.180.0
    volumes: ["./cortex00:/vertex/storage"]
    healthcheck:
      test: ["CMD", "python", "-m", "synapse.tools.service.healthcheck", "-c", "cell:///vertex/storage"]
      interval: 30s
`;

interface ComposeState {
  compose: { services: Record<string, { State: string; Image?: string; ExitCode?: number; healthcheck?: unknown; stopTimeout?: string }> };
}

function setup(options: { state?: Record<string, unknown>; running?: boolean } = {}) {
  const work = tempDir('synup-compose-');
  const cellDir = path.join(work, 'cortex00');
  mkdirSync(cellDir);
  writeFileSync(path.join(cellDir, 'cell.guid'), 'e'.repeat(32));
  const file = path.join(work, 'docker-compose.yaml');
  writeFileSync(file, COMPOSE);
  const world = fakeWorld(work, {
    compose: {
      services: { cortex: options.running === false ? { State: 'exited', ExitCode: 0, Image: 'vertexproject/synapse-cortex:v2.180.0' } : { State: 'running', ExitCode: 0, Image: 'vertexproject/synapse-cortex:v2.180.0' } },
      logs: ['Migrating Drive Slabs', 'https listening: 4443'],
      ...options.state,
    },
  });
  const config = configSchema.parse({ service: { adapter: 'compose', stopTimeout: '30s', compose: { file: 'docker-compose.yaml', service: 'cortex', project: 'syn' } } });
  const adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work, env: world.env });
  const override = path.join(work, 'docker-compose.synup.yaml');
  const calls = () => world.calls().map((c) => [c.tool, ...c.argv]);
  const service = () => world.state<ComposeState>().compose.services.cortex!;
  return { work, file, override, world, adapter, calls, service };
}

const base = (t: { file: string }) => ['docker', 'compose', '-f', t.file, '-p', 'syn'];
const withOverride = (t: { file: string; override: string }) => ['docker', 'compose', '-f', t.file, '-f', t.override, '-p', 'syn'];

async function rejection(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

describe('compose adapter (contract, fake docker)', () => {
  it('status: ps --all --format json (lines or an array), version from the image tag', async () => {
    const t = setup();
    expect(await t.adapter.status()).toEqual({ running: true, configuredVersion: '2.180.0', detail: 'proj-cortex-1 running' });
    expect(t.calls()).toEqual([[...base(t), 'ps', '--all', '--format', 'json', 'cortex']]);
    const old = setup({ state: { psArray: true } });
    expect((await old.adapter.status()).running).toBe(true);
  });

  it('stop: docker compose stop -t <deadline in s>; a SIGKILL by docker (exit 137) counts as forced', async () => {
    const t = setup();
    expect((await t.adapter.stop({ timeoutMs: 12_500 })).forced).toBe(false);
    expect(t.calls()[1]).toEqual([...base(t), 'stop', '-t', '13', 'cortex']);
    expect(t.service()).toMatchObject({ State: 'exited', stopTimeout: '13' });
    const stubborn = setup({ state: { ignoresStop: true } });
    expect((await stubborn.adapter.stop({ timeoutMs: 1000 })).forced).toBe(true);
  });

  it('start: synup\'s override sets the image tag, then up -d with both files; the compose file is untouched', async () => {
    const t = setup({ running: false });
    await t.adapter.start('2.181.0');
    expect(readFileSync(t.override, 'utf8')).toBe(`${OVERRIDE_MARKER}\nservices:\n  cortex:\n    image: vertexproject/synapse-cortex:v2.181.0\n`);
    expect(t.calls().at(-1)).toEqual([...withOverride(t), 'up', '-d', 'cortex']);
    expect(t.service()).toMatchObject({ State: 'running', Image: 'vertexproject/synapse-cortex:v2.181.0' });
    expect(readFileSync(t.file, 'utf8')).toBe(COMPOSE);
    expect((await t.adapter.status()).configuredVersion).toBe('2.181.0');
  });

  it('start: refused while the container runs (up -d would recreate it behind the stop checks)', async () => {
    const t = setup();
    const error = await rejection(t.adapter.start('2.181.0'));
    expect(error.code).toBe('refused');
    expect(existsSync(t.override)).toBe(false);
  });

  it('probes off: the override widens the healthcheck\'s start period (the check keeps running, issue 20); restore removes only synup\'s key', async () => {
    const t = setup();
    const saved = await t.adapter.disableProbes();
    expect(saved).toEqual({ overrideFile: t.override, hadHealthcheck: false });
    expect(parse(readFileSync(t.override, 'utf8'))).toEqual({ services: { cortex: { healthcheck: { start_period: '300s' } } } });
    await t.adapter.stop({ timeoutMs: 5000 });
    await t.adapter.start('2.181.0');
    expect(t.service()).toMatchObject({ Image: 'vertexproject/synapse-cortex:v2.181.0', healthcheck: { start_period: '300s' } });

    await t.adapter.restoreProbes(JSON.parse(JSON.stringify(saved)));
    expect(parse(readFileSync(t.override, 'utf8'))).toEqual({ services: { cortex: { image: 'vertexproject/synapse-cortex:v2.181.0' } } });
    expect(readFileSync(t.file, 'utf8')).toBe(COMPOSE);
    // the next recreate gets the compose file's own healthcheck back
    await t.adapter.stop({ timeoutMs: 5000 });
    await t.adapter.start('2.181.0');
    expect(t.service().healthcheck).toEqual({ test: ['CMD', 'python', '-m', 'synapse.tools.service.healthcheck', '-c', 'cell:///vertex/storage'], interval: '30s' });
  });

  it('never writes over an override file it did not create', async () => {
    const t = setup({ running: false });
    writeFileSync(t.override, 'services:\n  cortex:\n    mem_limit: 8g\n');
    for (const action of [() => t.adapter.start('2.181.0'), () => t.adapter.disableProbes()]) {
      const error = await rejection(action());
      expect(error.code).toBe('refused');
      expect(error.message).toBe(`${t.override} exists but was not written by synup; leaving it alone`);
    }
    expect(readFileSync(t.override, 'utf8')).toBe('services:\n  cortex:\n    mem_limit: 8g\n');
  });

  it('logs: docker compose logs -f --no-log-prefix --since <time> <service>', async () => {
    const t = setup();
    const since = new Date('2025-01-10T10:00:00.000Z');
    const lines = await firstFollowed((signal) => t.adapter.logs({ signal, since }), 2);
    expect(lines).toEqual(['Migrating Drive Slabs', 'https listening: 4443']);
    expect(t.calls()).toEqual([[...base(t), 'logs', '-f', '--no-log-prefix', '--since', '2025-01-10T10:00:00.000Z', 'cortex']]);
  });

  it('stamped logs and the bounded read: --timestamps, ESC[2K stripped, the mark is the last line; tail strips ESC[2K too (issue 20)', async () => {
    const t = setup();
    const since = new Date('2025-01-10T10:00:00.000Z');
    const lines = await firstFollowed((signal) => t.adapter.stampedLogs!({ signal, since }), 2);
    expect(lines).toEqual([
      { stamp: '2025-01-10T10:00:00.000000000Z', text: 'Migrating Drive Slabs' },
      { stamp: '2025-01-10T10:00:00.001000000Z', text: 'https listening: 4443' },
    ]);
    expect(await t.adapter.logMark!(since)).toEqual({ stamp: '2025-01-10T10:00:00.001000000Z', count: 1 });
    expect(t.calls()).toEqual([
      [...base(t), 'logs', '-f', '--no-log-prefix', '--timestamps', '--since', '2025-01-10T10:00:00.000Z', 'cortex'],
      [...base(t), 'logs', '--no-log-prefix', '--timestamps', '--since', '2025-01-10T10:00:00.000Z', 'cortex'],
    ]);
    const tail = [];
    for await (const line of t.adapter.tail({ lines: 5, follow: false, signal: new AbortController().signal })) tail.push(line);
    expect(tail).toEqual(['Migrating Drive Slabs', 'https listening: 4443']);
  });

  it('status: the running container\'s id, start time and restart count (docker container inspect) name the instance', async () => {
    const t = setup({ state: { services: { cortex: { State: 'running', ID: 'f'.repeat(64), RestartCount: 1, StartedAt: '2026-12-06T13:00:07.9Z', Image: 'vertexproject/synapse-cortex:v2.180.0' } } } });
    expect((await t.adapter.status()).instance).toBe('container ffffffffffff started 2026-12-06T13:00:07.9Z restarts 1');
    expect(t.calls().at(-1)).toEqual(['docker', 'container', 'inspect', 'f'.repeat(64)]);
  });

  it("pinVersion: the operator's own `up -d` starts the new tag: the .env variable the file interpolates, the file itself with updateFile, else a WARNING (issue 20)", async () => {
    const t = setup();
    const pin = (updateFile: boolean) => {
      const config = configSchema.parse({ service: { adapter: 'compose', compose: { file: 'docker-compose.yaml', service: 'cortex', updateFile } } });
      return createAdapter(config, { cellDir: path.join(t.work, 'cortex00'), stateDir: path.join(t.work, 'state'), cwd: t.work, env: t.world.env }).pinVersion!('2.181.0');
    };
    // a literal tag, no consent: the file is left alone, the operator is told
    expect(await pin(false)).toMatch(/^WARNING: docker-compose\.yaml still names vertexproject\/synapse-cortex:v2\.180\.0: a plain `docker compose up -d` would recreate cortex on it/);
    expect(readFileSync(t.file, 'utf8')).toBe(COMPOSE);
    // with consent: only the image changes, the file before is kept beside it
    expect(await pin(true)).toMatch(/^docker-compose\.yaml: image vertexproject\/synapse-cortex:v2\.180\.0 → vertexproject\/synapse-cortex:v2\.181\.0 \(service\.compose\.updateFile; the file before: .*\.bak\)$/);
    expect(readFileSync(t.file, 'utf8')).toBe(COMPOSE.replace('v2.180.0', 'v2.181.0'));
    expect(readdirSync(t.work).filter((f) => f.endsWith('.bak')).map((f) => readFileSync(path.join(t.work, f), 'utf8'))).toEqual([COMPOSE]);
    expect(await pin(true)).toBeNull();
    // a file that takes the tag from a variable: set in .env, the file untouched
    const interpolating = COMPOSE.replace('image: vertexproject/synapse-cortex:v2.180.0', 'image: vertexproject/synapse-cortex:v${SYNAPSE_VERSION:-2.180.0}');
    writeFileSync(t.file, interpolating);
    writeFileSync(path.join(t.work, '.env'), 'COMPOSE_PROJECT_NAME=syn\nSYNAPSE_VERSION=2.180.0\n');
    expect(await pin(false)).toBe(`SYNAPSE_VERSION=2.181.0 in ${path.join(t.work, '.env')} (docker-compose.yaml takes the image tag from it): \`docker compose up -d\` starts vertexproject/synapse-cortex:v2.181.0`);
    expect(readFileSync(path.join(t.work, '.env'), 'utf8')).toBe('COMPOSE_PROJECT_NAME=syn\nSYNAPSE_VERSION=2.181.0\n');
    expect(readFileSync(t.file, 'utf8')).toBe(interpolating);
  });

  it("pinVersion with a floating tag (v2.x.x): nothing to say when the engine's tag is the image synup started; else a WARNING that names both images and `docker compose pull`", async () => {
    const t = setup({ state: {} });
    writeFileSync(t.file, COMPOSE.replace('v2.180.0', 'v2.x.x'));
    const pin = () => {
      const config = configSchema.parse({ service: { adapter: 'compose', compose: { file: 'docker-compose.yaml', service: 'cortex' } } });
      return createAdapter(config, { cellDir: path.join(t.work, 'cortex00'), stateDir: path.join(t.work, 'state'), cwd: t.work, env: t.world.env }).pinVersion!('2.181.0');
    };
    const images = (floating: string) => t.world.setState({ ...t.world.state(), images: { 'vertexproject/synapse-cortex:v2.x.x': { Id: floating }, 'vertexproject/synapse-cortex:v2.181.0': { Id: `sha256:${'b'.repeat(64)}` } } });
    // the operator's engine still has v2.x.x at the old image (Vertex moved the tag since): a plain `up -d` starts that
    images(`sha256:${'a'.repeat(64)}`);
    expect(await pin()).toBe(
      "WARNING: docker-compose.yaml names the floating tag vertexproject/synapse-cortex:v2.x.x, which on this engine is image sha256:aaaaaaaaaaaa…, not vertexproject/synapse-cortex:v2.181.0 (sha256:bbbbbbbbbbbb…): a plain `docker compose up -d` would recreate cortex on it, which refuses data written by 2.181.0; `docker compose pull` first makes it what the registry's tag names now (check that it is 2.181.0), or pin vertexproject/synapse-cortex:v2.181.0 there (service.compose.updateFile: true lets synup)",
    );
    // v2.x.x on this engine is the image synup started: the operator's `up -d` starts it, nothing to say
    images(`sha256:${'b'.repeat(64)}`);
    expect(await pin()).toBeNull();
    expect(readFileSync(t.file, 'utf8')).toBe(COMPOSE.replace('v2.180.0', 'v2.x.x'));
    expect(t.calls().filter((c) => c[1] === 'image').slice(-2).map((c) => c.join(' ')).sort()).toEqual(['docker image inspect --format {{.Id}} vertexproject/synapse-cortex:v2.181.0', 'docker image inspect --format {{.Id}} vertexproject/synapse-cortex:v2.x.x']);
  });

  it('describe: the argv with synup\'s override, for runbooks', () => {
    const t = setup();
    expect(t.adapter.describe('stop')).toEqual([[...withOverride(t), 'stop', '-t', '30', 'cortex']]);
    expect(t.adapter.describe('start', '2.181.0')).toEqual([[...withOverride(t), 'up', '-d', 'cortex']]);
  });

  it('an invalid version never reaches the override file', async () => {
    const t = setup({ running: false });
    const error = await rejection(t.adapter.start('2.181.0\nprivileged: true'));
    expect(error.code).toBe('usage');
    expect(existsSync(t.override)).toBe(false);
    expect(t.calls()).toEqual([]);
  });
});
