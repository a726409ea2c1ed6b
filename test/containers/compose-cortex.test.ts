// Issue 20: synup on a real Docker engine with compose v2 (scripts/container-lab.sh): a real Cortex image from the
// lab's registry as a compose service, the way Vertex's deployment guide runs it (uid 999, /vertex/storage,
// `restart: unless-stopped`), upgraded 2.242.0 → 2.250.0 by `synup upgrade` with adapter compose. Skipped with the
// reason when the lab is not up.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { Journal } from '../../src/runner/journal.js';
import { containerLab, containerLabSkipReason, cortexImage, docker, type ContainerLab } from '../support/container-lab.js';
import { active, composeCells, lastJson, seedTemplate, stampedLog, type ComposeCellOptions } from '../support/compose-cells.js';
import { api, until } from '../support/lab-cortex.js';

const FROM = '2.242.0';
const TO = '2.250.0';
/** econ:pay:card nodes with a :pan: 2.250.0's model migration (0, 2, 36) makes an econ:pay:pan of each. */
const CARDS = 3000;

if (containerLabSkipReason) console.log(`container tests skipped: ${containerLabSkipReason}`);

describe.skipIf(containerLabSkipReason !== null)('compose, for real: a Cortex container upgraded by synup (issue 20)', () => {
  const lab = containerLab!;
  const cells = composeCells(lab, 'cortex');
  const newCell = (options: ComposeCellOptions = {}) => cells.newCell(options);
  let template = '';

  beforeAll(async () => {
    // One seeded 2.242.0 cell, copied for each test: 200 fqdns and CARDS cards with a :pan.
    template = await seedTemplate(cells, { cards: CARDS, name: 'cortex' });
  }, 600_000);

  afterEach(async () => {
    await cells.removeAll();
  });

  afterAll(async () => {
    await cells.removeAll();
    if (template) rmSync(template, { recursive: true, force: true });
  });

  // https: the operator's file names the tag literally and lets synup update it; tool: it takes the tag from .env.
  const variants = {
    https: (l: ContainerLab): ComposeCellOptions => ({ health: { check: 'https' }, compose: { updateFile: true } }),
    tool: (l: ContainerLab): ComposeCellOptions => ({ health: { check: 'tool' }, image: `${l.registry}/vertexproject/synapse-cortex:v\${SYNAPSE_VERSION}`, env: `SYNAPSE_VERSION=${FROM}\n` }),
  };
  for (const check of ['https', 'tool'] as const) {
    it(`synup upgrade ${FROM} → ${TO}, health.check ${check}: pulled from the registry, migrated only after the container logged \`model migrations complete\`; Docker's healthcheck runs after; the operator's own \`up -d\` keeps ${TO}`, async () => {
      const cell = await newCell({ from: template, ...variants[check](lab) });
      expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
      await active(cell);
      const result = await cell.synup(['upgrade', '--to', TO, '--backup', '-y', '--json']);
      expect(result.exitCode, `${result.stderr}\n${result.stdout}`).toBe(0);
      const events = String(result.stdout).trim().split('\n').map((l) => JSON.parse(l) as { type?: string; message?: string; step?: string });
      const progress = events.filter((e) => e.type === 'progress').map((e) => e.message ?? '');
      expect(progress.some((m) => /pulled .*synapse-cortex:v2\.250\.0 \(.*@sha256:/.test(m))).toBe(true);
      expect(progress.some((m) => m.includes('logged no model migration'))).toBe(false);

      // The container's own log, stamped by Docker: synup's "migrated" comes after `...model migrations complete!`.
      const log = await stampedLog(cell);
      const complete = log.filter(([, text]) => text.includes('model migrations complete')).at(-1);
      const begin = log.filter(([, text]) => text.includes('beginning model migration')).at(-1);
      expect(begin, 'the 2.250.0 boot logged its model migration').toBeDefined();
      expect(complete, 'and its end').toBeDefined();
      const journal = Journal.open(path.join(cell.work, 'state'));
      let migratedAt: string | undefined;
      try {
        migratedAt = journal.latest(cell.cellDir)?.data.migratedAt;
      } finally {
        await journal.close();
      }
      expect(migratedAt).toBeDefined();
      expect(Date.parse(migratedAt!)).toBeGreaterThanOrEqual(Date.parse(complete![0]));
      expect(progress.some((m) => m.includes('model migrations complete'))).toBe(true);

      // The data moved: version in cell:info, and the model migration's work is all there (a pan per card).
      expect((await readCellInfo(cell.cellDir)).cellVersion).toBe(TO);
      const counts = await api({ dir: cell.cellDir, port: cell.port }, 'POST', '/api/v1/storm/call', { query: 'return($lib.view.get().getFormCounts())' }, 60_000);
      const forms = JSON.parse(counts.text).result as Record<string, number>;
      expect({ cards: forms['econ:pay:card'], pans: forms['econ:pay:pan'], fqdns: forms['inet:fqdn'] }).toEqual({ cards: CARDS, pans: CARDS, fqdns: expect.any(Number) });
      // Docker's healthcheck was not left off (issue 20): the container runs the image's check and reports healthy.
      const inspect = async () => JSON.parse(String((await docker(lab, ['inspect', `${cell.project}-cortex-1`])).stdout))[0] as { Config: { Healthcheck?: { Test?: string[] }; Image: string }; State: { Health?: { Status: string } } };
      expect((await inspect()).Config.Healthcheck?.Test).toEqual(['CMD', 'python', '-m', 'synapse.tools.healthcheck', '-c', 'cell:///vertex/storage/']);
      await until('Docker to report the container healthy', 120_000, async () => ((await inspect()).State.Health?.Status === 'healthy' ? true : null));

      // The operator's own `docker compose up -d` (no synup override) keeps the new version.
      expect(progress.some((m) => m.startsWith('WARNING: docker-compose.yaml still names'))).toBe(false);
      const own = await docker(lab, ['compose', '-p', cell.project, 'up', '-d', 'cortex'], { cwd: cell.work });
      expect(own.exitCode, String(own.stderr)).toBe(0);
      expect((await inspect()).Config.Image).toBe(cortexImage(lab, TO));
      await active(cell);

      const summary = lastJson(String(result.stdout));
      console.log(`compose ${FROM} → ${TO} (health ${check}): downtime ${String(summary.downtimeMs)} ms, migrated ${String(summary.migratedMs)} ms`);
    }, 900_000);
  }

  it(`a first boot of ${TO} SIGKILLed mid-migration and restarted by Docker (restart: unless-stopped) is rolled back: exit 4, ${FROM} healthy with its data`, async () => {
    const cell = await newCell({ from: template });
    expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
    await active(cell);
    const since = new Date().toISOString();
    const upgrade = cell.synup(['upgrade', '--to', TO, '--backup', '-y']);
    // The new version's log, polled: at `beginning model migration` its main process is killed as the OOM killer
    // would (SIGKILL from the host, not `docker kill`, so Docker's restart policy applies).
    let killed: number | null = null;
    let done = false;
    void upgrade.then(() => (done = true));
    while (killed === null && !done) {
      const { stdout } = await cell.compose(['logs', '--no-log-prefix', '--since', since, 'cortex']);
      if (/beginning model migration -> \(0, 2, 36\)/.test(String(stdout))) {
        const state = JSON.parse(String((await docker(lab, ['inspect', '--format', '{{json .State}}', `${cell.project}-cortex-1`])).stdout)) as { Pid: number };
        process.kill(state.Pid, 'SIGKILL');
        killed = state.Pid;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(killed, 'the 2.250.0 boot began its model migration').not.toBeNull();
    const result = await upgrade;
    expect(result.exitCode, result.stderr).toBe(4);
    expect(result.stderr).toMatch(/restarted behind synup's back|exited while booting/);
    console.log(`killed pid ${killed} at its model migration: ${/^.*(restarted behind synup's back|exited while booting).*$/m.exec(result.stderr)?.[0]}`);
    expect((await readCellInfo(cell.cellDir)).cellVersion).toBe(FROM);
    await active(cell);
    const counts = await api({ dir: cell.cellDir, port: cell.port }, 'POST', '/api/v1/storm/call', { query: 'return($lib.view.get().getFormCounts())' }, 60_000);
    expect((JSON.parse(counts.text).result as Record<string, number>)['econ:pay:card']).toBe(CARDS);
    const ps = JSON.parse(String((await docker(lab, ['inspect', `${cell.project}-cortex-1`])).stdout))[0] as { Config: { Image: string } };
    expect(ps.Config.Image).toBe(cortexImage(lab, FROM));
  }, 900_000);

  it('start, stop, restart, status and logs through docker compose', async () => {
    const cell = await newCell({ from: template });
    const started = await cell.synup(['start', '--json'], 300_000);
    expect(started.exitCode, started.stderr).toBe(0);
    expect(JSON.parse(String(started.stdout))).toMatchObject({ action: 'start', version: FROM, cell: { adapter: 'compose' } });
    const status = JSON.parse(String((await cell.synup(['status', '--json'])).stdout));
    expect(status).toMatchObject({ running: true, configuredVersion: FROM, dataVersion: FROM, active: { active: true } });
    const logs = await cell.synup(['logs', '-n', '5']);
    expect(logs.exitCode).toBe(0);
    const lines = String(logs.stdout).trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    // eslint-disable-next-line no-control-regex
    expect(lines.some((l) => /[\x00-\x08\x1b]/.test(l))).toBe(false);
    const stopped = await cell.synup(['stop', '--json'], 120_000);
    expect(JSON.parse(String(stopped.stdout))).toMatchObject({ action: 'stop', wasRunning: true, forced: false });
    expect(JSON.parse(String((await cell.synup(['status', '--json'])).stdout))).toMatchObject({ running: false });
    const restarted = await cell.synup(['restart'], 300_000);
    expect(restarted.exitCode, restarted.stderr).toBe(0);
    expect(restarted.stderr).toMatch(new RegExp(`^cortex00 ${FROM.replaceAll('.', '\\.')} started, active after `));
    await active(cell);
  }, 600_000);
});
