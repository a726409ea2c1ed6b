// synup against a real Synapse Cortex (the upstream Python source, ../shared/synapse-lab/), driven through the CLI
// exactly as the README's operator section says: the process adapter, the real changelog, HTTPS pinned to the
// cell's own sslcert.pem, SYNUP_HEALTH_PASSWORD alone. Gated on SYN_LAB (a dir made by setup.sh).
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCellInfo } from '../../src/lmdb/cellinfo.js';
import { realChangelog, runCortexScript, synup } from '../support/helpers.js';
import { PASSWORD, realCell, SETPRIV, type RealCell } from '../support/real-cell.js';

const LAB = process.env.SYN_LAB ? path.resolve(process.env.SYN_LAB) : undefined;
const RUN_CORTEX = runCortexScript;
/** uid/gid of Vertex's images and deployment guide (`user: "999"`). */
const SERVICE_UID = 999;

const skipReason = !LAB
  ? 'SYN_LAB is not set (a dir prepared by ../shared/synapse-lab/setup.sh)'
  : !existsSync(path.join(LAB, 'src-v2.250.0'))
    ? `${LAB} has no src-v2.250.0 (run ../shared/synapse-lab/setup.sh ${LAB})`
    : !existsSync(RUN_CORTEX)
      ? `${RUN_CORTEX} is missing`
      : !existsSync(realChangelog)
        ? `${realChangelog} is missing`
        : null;
if (skipReason) console.warn(`real-Cortex tests skipped: ${skipReason}`);
const asRootReason = process.geteuid?.() !== 0 ? 'not running as root (needed to run the Cortex as uid 999)' : !SETPRIV ? 'setpriv is not installed' : null;
if (!skipReason && asRootReason) console.warn(`real-Cortex uid ${SERVICE_UID} test skipped: ${asRootReason}`);

const FQDNS = 1000;
/** host{i}.example.com, plus the example.com and com nodes Synapse makes for them. */
const FQDN_NODES = FQDNS + 2;
/** 1000 nodes, plus a payment card with a PAN: 2.243.0 migrates it to also create an econ:pay:pan node. */
async function loadData(cell: RealCell): Promise<void> {
  await cell.stormEdit(`for $i in $lib.range(${FQDNS}) { [ inet:fqdn=\`host{$i}.example.com\` ] } | spin`);
  await cell.stormEdit('[ econ:pay:card=* :pan=4111111111111111 ] | spin');
}
const formCount = async (cell: RealCell, form: string) => ((await cell.storm('return($lib.view.get().getFormCounts())')) as Record<string, number>)[form] ?? 0;
const fqdnCount = (cell: RealCell) => formCount(cell, 'inet:fqdn');
const modelVersion = (cell: RealCell) => cell.storm('return($lib.layer.get().get(model:version))');
const serviceVersion = (cell: RealCell) => cell.storm('return($lib.version.synapse())');

/** JSON lines of an upgrade run; the last one is its summary. */
function summaryOf(stdout: string): Record<string, unknown> {
  const events = stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return events.find((e) => e.type === 'summary') ?? {};
}

/** Every path under `dir` whose owner is not `uid` (links included, never followed). */
function notOwnedBy(dir: string, uid: number): string[] {
  return [dir, ...readdirSync(dir, { recursive: true }).map((rel) => path.join(dir, String(rel)))].filter((p) => lstatSync(p).uid !== uid);
}

describe.skipIf(skipReason !== null)('a real Synapse Cortex, driven through the CLI', () => {
  describe('2.242.0 with 1000 nodes and drive workers (as in production)', () => {
    let cell: RealCell;
    let before: number;
    beforeAll(async () => {
      cell = await realCell({ version: '2.242.0' });
      await loadData(cell);
      before = await fqdnCount(cell);
      expect(before).toBe(FQDN_NODES);
    }, 300_000);
    afterAll(async () => cell?.stop(), 120_000);

    it('2.250.0 SIGKILLed mid-migration (its whole main pid, as the OOM killer): rolled back to a healthy 2.242.0 with its data, exit 4', async () => {
      const offset = existsSync(cell.logFile) ? statSync(cell.logFile).size : 0;
      const run = cell.upgrade(['--to', '2.250.0', '--backup']);
      // Kill the new version's main process (not its group: its drive workers live on) once it migrates.
      let killedAt = 0;
      for (const deadline = Date.now() + 400_000; Date.now() < deadline && !killedAt; await sleep(50)) {
        const log = existsSync(cell.logFile) ? readFileSync(cell.logFile, 'utf8').slice(offset) : '';
        const boot = log.indexOf('Starting cortex version 2.250.0');
        if (boot >= 0 && /Building user email index|beginning model migration/.test(log.slice(boot))) {
          const { pid } = JSON.parse(readFileSync(cell.pidFile, 'utf8')) as { pid: number };
          process.kill(pid, 'SIGKILL');
          killedAt = Date.now();
        }
      }
      const result = await run;
      const rollbackMs = Date.now() - killedAt;
      const summary = summaryOf(result.stdout);
      console.log(`real Cortex: 2.250.0 SIGKILLed mid-migration → rolled back to 2.242.0 and active ${(rollbackMs / 1000).toFixed(1)} s after the kill; downtime (API back) ${summary.downtimeMs} ms`);
      expect(killedAt, 'the new version never reached a migration').toBeGreaterThan(0);
      expect(result.exitCode, result.stderr).toBe(4);
      expect(summary).toMatchObject({ outcome: 'rolled-back', from: '2.242.0', to: '2.250.0' });
      expect(result.stdout).toMatch(/the new version 2\.250\.0 exited while booting: pid \d+ \(2\.250\.0\) was killed by SIGKILL/);
      expect(await serviceVersion(cell)).toEqual([2, 242, 0]);
      expect(await fqdnCount(cell)).toBe(before);
      expect(await modelVersion(cell)).toEqual([0, 2, 35]);
    }, 480_000);

    it('then 2.242.0 → 2.250.0: exit 0, every node still there, the 2.243.0 migrations done, downtime API back and migrated', async () => {
      const result = await cell.upgrade(['--to', '2.250.0']);
      const summary = summaryOf(result.stdout);
      console.log(`real Cortex: 2.242.0 → 2.250.0 with ${FQDNS} nodes: downtime API back ${summary.downtimeMs} ms, migrated ${summary.migratedMs} ms`);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(summary).toMatchObject({ outcome: 'done', from: '2.242.0', to: '2.250.0' });
      expect(result.stdout).toMatch(/version 2\.250\.0 confirmed by the service and its data/);
      expect(summary.migratedMs as number).toBeGreaterThanOrEqual(summary.downtimeMs as number);
      expect(await serviceVersion(cell)).toEqual([2, 250, 0]);
      expect(await fqdnCount(cell)).toBe(before);
      expect(await modelVersion(cell)).toEqual([0, 2, 36]);
      expect(await formCount(cell, 'econ:pay:pan')).toBe(1);
      const status = await synup(['status', '--json'], { cwd: cell.work, env: { SYNUP_HEALTH_PASSWORD: PASSWORD } });
      expect(JSON.parse(status.stdout)).toMatchObject({ running: true, serviceVersion: '2.250.0', active: { active: true } });
      const log = readFileSync(cell.logFile, 'utf8');
      expect(log.slice(log.lastIndexOf('Starting cortex version 2.250.0'))).toMatch(/Building user email index for Cell \(cortex\)[\s\S]*\.\.\.model migrations complete!/);
    }, 480_000);
  });

  describe.skipIf(asRootReason !== null)(`2.180.0 run as uid ${SERVICE_UID} (Vertex's deployment guide)`, () => {
    let cell: RealCell;
    beforeAll(async () => {
      cell = await realCell({ version: '2.180.0', asUser: SERVICE_UID, noSpawn: true });
    }, 300_000);
    afterAll(async () => cell?.stop(), 120_000);

    it('2.180.0 → 2.250.0 across eight model revisions: exit 0, every file still belongs to uid 999', async () => {
      await loadData(cell);
      expect(notOwnedBy(cell.cellDir, SERVICE_UID)).toEqual([]);
      const result = await cell.upgrade(['--to', '2.250.0', '--backup']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(notOwnedBy(cell.cellDir, SERVICE_UID)).toEqual([]);
      expect(await serviceVersion(cell)).toEqual([2, 250, 0]);
      expect(await fqdnCount(cell)).toBe(FQDN_NODES);
      expect(await modelVersion(cell)).toEqual([0, 2, 36]);
      const info = await readCellInfo(cell.cellDir).catch(() => null); // read-only open beside the running service
      expect(info?.cellVersion).toBe('2.250.0');
    }, 480_000);
  });
});
