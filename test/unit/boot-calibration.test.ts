// The first boot predicted from this state dir's measured boots (src/plan/boot-calibration.ts), and the measured boots
// read from rehearsal records and journal runs (src/runner/boot-measurements.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { impactBullets, parseChangelog, selectReleases } from '../../src/changelog/index.js';
import { CALIBRATING_BOOTS, MIGRATION_RATES as R, predictBoot, type BootMeasurement, type MigrationWork } from '../../src/plan/boot-calibration.js';
import { analyzeImpact, type CellFacts } from '../../src/plan/impact.js';
import { bootsOfRehearsals, bootsOfRuns } from '../../src/runner/boot-measurements.js';
import type { RunRecord } from '../../src/runner/journal.js';
import type { RehearsalRecord } from '../../src/runner/rehearsals.js';
import { realChangelog } from '../support/helpers.js';

const ONE_RELEASE = ['2.243.0'];
const work = (createNodes: number, releases = ONE_RELEASE, normalizeNodes = 0): MigrationWork => ({ releases, createNodes, normalizeNodes, allNodes: 0 });
const boot = (over: Partial<BootMeasurement> & Pick<BootMeasurement, 'bootSeconds' | 'work'>): BootMeasurement => ({ source: 'rehearsal r1', at: '2026-12-06T10:00:00.000Z', modelMigrationSeconds: null, ...over });
const builtInMigration = (w: MigrationWork) => (w.releases.length ? R.migrationBaseSeconds + w.releases.length * R.fixedSecondsPerRelease + w.createNodes / R.createNodesPerSecond + w.normalizeNodes / R.normalizeNodesPerSecond : 0);
const builtIn = (w: MigrationWork) => R.bootSeconds + builtInMigration(w);

describe('predictBoot', () => {
  it('nothing measured: the built-in rates, said to be uncalibrated', () => {
    expect(predictBoot(work(6000), [])).toMatchObject({ seconds: builtIn(work(6000)), builtInSeconds: builtIn(work(6000)), source: 'built-in rates', calibrated: false, nodeScale: 1 });
  });

  it('a measured boot of the same work is predicted as measured', () => {
    const p = predictBoot(work(20000), [boot({ bootSeconds: 12.7, modelMigrationSeconds: 6.7, work: work(20000) })]);
    expect(p).toMatchObject({ source: 'rehearsal r1', calibrated: true });
    expect(p.seconds).toBeCloseTo(12.7, 9);
    expect(p.fixedSeconds).toBeCloseTo(6, 9);
  });

  it("keeps the measured fixed part and scales today's built-in migrations by how the measured ones ran", () => {
    // Measured: 12 s, 6 s of it model migrations (the log's window), for 20 000 created nodes; now 10 000 nodes.
    const p = predictBoot(work(10000), [boot({ bootSeconds: 12, modelMigrationSeconds: 6, work: work(20000) })]);
    const scale = 6 / builtInMigration(work(20000));
    expect(p.nodeScale).toBeCloseTo(scale, 9);
    expect(p.fixedSeconds).toBe(6);
    expect(p.seconds).toBeCloseTo(6 + scale * builtInMigration(work(10000)), 9);
    expect(p.seconds).toBeLessThan(12);
  });

  it('a measured boot without node work still tells how fast this machine migrates', () => {
    // An empty cell booted in 9 s, 3.5 s of it the model migrations' constant part: 6 000 nodes now.
    const p = predictBoot(work(6000), [boot({ bootSeconds: 9, modelMigrationSeconds: 3.5, work: work(0) })]);
    const scale = 3.5 / builtInMigration(work(0));
    expect(p.nodeScale).toBeCloseTo(scale, 9);
    expect(p.seconds).toBeCloseTo(5.5 + scale * builtInMigration(work(6000)), 9);
  });

  it('a boot with no migrations crossed is its fixed part; the machine speed then scales only that', () => {
    const none = work(0, []);
    expect(predictBoot(none, [boot({ bootSeconds: 9, modelMigrationSeconds: null, work: none })])).toMatchObject({ seconds: 9, fixedSeconds: 9, migrationSeconds: 0, nodeScale: 9 / R.bootSeconds });
  });

  it('without the log window the measured boot is split as the built-in rates split it', () => {
    const then = work(20000);
    const p = predictBoot(then, [boot({ bootSeconds: 2 * builtIn(then), work: then })]);
    expect(p.seconds).toBeCloseTo(2 * builtIn(then), 9);
    expect(p.fixedSeconds).toBeCloseTo(2 * R.bootSeconds, 9);
  });

  it('only boots of the same migrations calibrate; the median over the newest three', () => {
    const at = (hour: number) => `2026-12-06T${String(hour).padStart(2, '0')}:00:00.000Z`;
    const other = boot({ source: 'upgrade other', at: at(13), bootSeconds: 30, work: work(0, ['2.181.0', '2.243.0']) });
    const same = [20, 10, 14, 12].map((bootSeconds, i) => boot({ source: `rehearsal r${i}`, at: at(9 + i), bootSeconds, modelMigrationSeconds: 2, work: work(5000) }));
    expect(predictBoot(work(5000), [other]).source).toBe('built-in rates');
    // r0 (20 s) is the oldest of four: the fixed parts of r1–r3 are 8, 12 and 10 s, their median 10 s.
    expect(predictBoot(work(5000), [...same, other])).toMatchObject({ source: 'rehearsal r3, rehearsal r2, rehearsal r1', seconds: 12, fixedSeconds: 10 });
    expect(CALIBRATING_BOOTS).toBe(3);
  });
});

describe('measured boots from the state dir', () => {
  const rehearsal = (over: Partial<RehearsalRecord>): RehearsalRecord => ({
    id: 'r1', at: '2026-12-06T10:00:00.000Z', cellGuid: null, from: '2.242.0', to: '2.250.0', ok: true, migrationMs: 12000, modelMigrationMs: 5000, migrationWork: work(100), dataBytes: 0, backup: '/b', ...over,
  });

  it('passing rehearsals that counted their work; older records and failed ones are skipped', () => {
    expect(bootsOfRehearsals([rehearsal({}), rehearsal({ id: 'old', migrationWork: undefined }), rehearsal({ id: 'bad', ok: false }), rehearsal({ id: 'nowin', modelMigrationMs: null })])).toEqual([
      { source: 'rehearsal r1', at: '2026-12-06T10:00:00.000Z', bootSeconds: 12, modelMigrationSeconds: 5, work: work(100) },
      { source: 'rehearsal nowin', at: '2026-12-06T10:00:00.000Z', bootSeconds: 12, modelMigrationSeconds: null, work: work(100) },
    ]);
  });

  it("finished upgrades: start's start → wait-migrations' end", () => {
    const run = (over: Partial<RunRecord>, data: RunRecord['data'] = { migrationWork: work(100), modelMigrationMs: 4000 }) => ({
      id: 'u1', outcome: 'done', data, steps: { start: { state: 'completed', startedAt: '2026-12-06T10:00:00.000Z' }, 'wait-migrations': { state: 'completed', endedAt: '2026-12-06T10:00:09.500Z' } }, ...over,
    }) as RunRecord;
    expect(bootsOfRuns([run({}), run({ id: 'rolled', outcome: 'rolled-back' }), run({ id: 'uncounted' }, {})])).toEqual([
      { source: 'upgrade u1', at: '2026-12-06T10:00:09.500Z', bootSeconds: 9.5, modelMigrationSeconds: 4, work: work(100) },
    ]);
  });
});

describe('the impact report with measured boots', () => {
  const real = parseChangelog(readFileSync(realChangelog, 'utf8'));
  const bullets = impactBullets(selectReleases(real, '2.242.0', '2.250.0'));
  const facts = (pans: number): CellFacts => ({ source: 'storm', where: 'test', counts: { 'econ:pay:card:pan': pans }, formCounts: { 'econ:pay:card': pans }, code: [], packageKeys: [], config: [], readMs: 0 });

  it('a rehearsal of another size calibrates the prediction, the migration rows and says so', () => {
    const calibration = boot({ bootSeconds: 12, modelMigrationSeconds: 6, work: work(20000) });
    const report = analyzeImpact({ from: '2.242.0', to: '2.250.0', bullets, facts: facts(10000), measured: [calibration] });
    const expected = predictBoot(work(10000), [calibration]);
    expect(report.predictedMigrationSeconds).toBeCloseTo(expected.seconds, 9);
    expect(report.migrationEstimate).toMatchObject({ source: 'rehearsal r1', calibrated: true, work: work(10000) });
    expect(report.migrations.map((m) => m.seconds)).toEqual([expected.nodeScale * (10000 / R.createNodesPerSecond)]);
    expect(report.migrationEstimate.builtInSeconds).toBeCloseTo(builtIn(work(10000)), 9);
  });
});
