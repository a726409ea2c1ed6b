// Issue 20: a first boot of 2.250.0 killed mid-migration, on a real Docker engine, with the restart policies of
// Vertex's deployment guide. `docker kill` of the container (Docker counts it as a manual stop: no restart) and, as
// the OOM killer would, SIGKILL of the container's Python main process from the host (Docker's restart policy then
// restarts it behind synup's back, with `restart: unless-stopped` and with `restart: always`). Each time synup must
// roll back to a healthy 2.242.0 with its data, exit 4, the operator's restart policy kept. Skipped with the reason
// when the container lab is not up.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { containerLab, containerLabSkipReason, cortexImage, docker } from '../support/container-lab.js';
import { active, composeCells, formCounts, inspectContainer, seedTemplate, type ComposeCell } from '../support/compose-cells.js';
import { until } from '../support/lab-cortex.js';

const FROM = '2.242.0';
const TO = '2.250.0';
/** econ:pay:card nodes: 2.250.0's model migration (0, 2, 36) makes an econ:pay:pan of each (several seconds here). */
const CARDS = 5000;

if (containerLabSkipReason) console.log(`container tests skipped: ${containerLabSkipReason}`);

type Kill = 'docker kill' | 'SIGKILL of the main process';

describe.skipIf(containerLabSkipReason !== null)(`compose, for real: a first boot of ${TO} killed mid-migration is rolled back (issue 20)`, () => {
  const lab = containerLab!;
  const cells = composeCells(lab, 'kill');
  let template = '';

  beforeAll(async () => {
    template = await seedTemplate(cells, { cards: CARDS, name: 'kill' });
  }, 900_000);

  afterEach(async () => {
    await cells.removeAll();
  });

  afterAll(async () => {
    await cells.removeAll();
    if (template) rmSync(template, { recursive: true, force: true });
  });

  /**
   * Follows the new version's log (polled, bounded by the upgrade's end) until its model migration begins, then kills
   * it. Returns what the log held at that moment.
   */
  async function killAtModelMigration(cell: ComposeCell, since: string, how: Kill, upgradeDone: () => boolean): Promise<{ pid: number; logged: string }> {
    for (;;) {
      if (upgradeDone()) throw new Error('synup ended before the new version began its model migration');
      const { stdout } = await cell.compose(['logs', '--no-log-prefix', '--since', since, 'cortex']);
      const logged = String(stdout);
      if (/beginning model migration -> \(0, 2, 36\)/.test(logged)) {
        const state = await inspectContainer(lab, cell);
        if (how === 'docker kill') {
          const r = await docker(lab, ['kill', cell.container]);
          if (r.exitCode !== 0) throw new Error(`docker kill: ${String(r.stderr)}`);
        } else {
          process.kill(state!.State.Pid, 'SIGKILL');
        }
        return { pid: state!.State.Pid, logged };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const cases: [Kill, string][] = [
    ['docker kill', 'unless-stopped'],
    ['docker kill', 'always'],
    ['SIGKILL of the main process', 'unless-stopped'],
    ['SIGKILL of the main process', 'always'],
  ];
  for (const [how, restart] of cases) {
    it(`${how}, restart: ${restart}: exit 4, ${FROM} running again, healthy, with its data; the restart policy kept`, async () => {
      const cell = await cells.newCell({ from: template, restart });
      expect((await cell.compose(['up', '-d', 'cortex'])).exitCode).toBe(0);
      await active(cell);
      const since = new Date().toISOString();
      let done = false;
      const upgrade = cell.synup(['upgrade', '--to', TO, '--backup', '-y']);
      void upgrade.then(() => (done = true));
      const killed = await killAtModelMigration(cell, since, how, () => done);
      const killedAt = Date.now();
      expect(killed.logged, 'killed before the migration finished').not.toMatch(/model migrations complete/);
      // What Docker did about it, seen while synup reacts: restarted (RestartCount) or left exited.
      const after = await until('the container to be restarted or to stay exited', 30_000, async () => {
        const s = await inspectContainer(lab, cell);
        return s && (s.RestartCount > 0 || s.State.Status === 'exited' || s.State.Pid !== killed.pid) ? s : null;
      });
      const result = await upgrade;
      expect(result.exitCode, result.stderr).toBe(4);
      const reason = /^.*(restarted behind synup's back|exited while booting).*$/m.exec(result.stderr)?.[0];
      expect(reason, result.stderr).toBeDefined();
      console.log(`${how}, restart: ${restart}: Docker ${after.RestartCount > 0 ? `restarted it (RestartCount ${after.RestartCount})` : `left it ${after.State.Status}`}; synup: ${reason}; rolled back ${Date.now() - killedAt} ms after the kill`);

      // The old version runs again on the pre-upgrade data, with every node, and Docker calls it healthy.
      expect((await readCellInfo(cell.cellDir)).cellVersion).toBe(FROM);
      await active(cell);
      const forms = await formCounts(cell);
      // 200 fqdns and their parents synup.test and test
      expect({ cards: forms['econ:pay:card'], pans: forms['econ:pay:pan'] ?? 0, fqdns: forms['inet:fqdn'] }).toEqual({ cards: CARDS, pans: 0, fqdns: 202 });
      const state = (await inspectContainer(lab, cell))!;
      expect(state.Config.Image).toBe(cortexImage(lab, FROM));
      const policy = JSON.parse(String((await docker(lab, ['inspect', '--format', '{{json .HostConfig.RestartPolicy}}', cell.container])).stdout)) as { Name: string };
      expect(policy.Name).toBe(restart);
      await until('Docker to report the container healthy', 180_000, async () => ((await inspectContainer(lab, cell))?.State.Health?.Status === 'healthy' ? true : null));
      // The failed boot's data is kept beside the cell for diagnosis; synup's rollback point was put back.
      expect(readdirSync(path.dirname(cell.cellDir)).filter((n) => n.startsWith('cortex00.synup-failed-'))).toHaveLength(1);
      expect(existsSync(path.join(cell.cellDir, 'cell.guid'))).toBe(true);
      const status = JSON.parse(String((await cell.synup(['status', '--json'])).stdout)) as Record<string, unknown>;
      expect(status).toMatchObject({ running: true, dataVersion: FROM });
    }, 900_000);
  }
});
