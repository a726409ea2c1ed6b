#!/usr/bin/env node
// Issue 13 on the real Synapse (../shared/synapse-lab, SYN_LAB): the client-visible downtime of a mirrored Cortex
// upgrade through AHA (`synup deploy upgrade`, graceful hand-off) against the single-cell upgrade (`synup upgrade`)
// of the same seed data, both under a client writing a node every 100 ms to the endpoint that acknowledged last
// (failing over to the other). The scenario is test/real/real-cortex-aha-deploy.test.ts, run SYNUP_BENCH_RUNS times
// (default 3), both cells seeded with SYNUP_BENCH_SEED_NODES more nodes (default 0: the test's 5); it appends one
// JSON report per run to the file named by SYNUP_GAP_REPORT. Goal: the mirrored longest
// gap ≤ 10 % of the single-cell one, no acknowledged write lost (the test asserts every acked write is on the new
// leader and its mirror).
//   SYN_LAB=/path/to/lab node bench/deploy-writes-real.mjs
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNS = Number(process.env.SYNUP_BENCH_RUNS ?? 3);

if (!process.env.SYN_LAB) {
  process.stdout.write('skipped: set SYN_LAB to a lab prepared by ../shared/synapse-lab/setup.sh to measure on the real Cortex\n');
  process.exit(0);
}
const work = mkdtempSync(path.join(os.tmpdir(), 'synup-bench-real-deploy-'));
const report = path.join(work, 'runs.jsonl');
try {
  for (let i = 1; i <= RUNS; i++) {
    process.stderr.write(`run ${i}/${RUNS}: test/real/real-cortex-aha-deploy.test.ts…\n`);
    const r = await execa('npx', ['vitest', 'run', 'test/real/real-cortex-aha-deploy.test.ts'], { cwd: root, reject: false, env: { SYNUP_GAP_REPORT: report, CI: 'true' } });
    if (r.exitCode !== 0) throw new Error(`run ${i} failed (exit ${r.exitCode}):\n${r.stdout.slice(-3000)}`);
  }
  const runs = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const pct = (x) => `${(x * 100).toFixed(1)} %`;
  process.stdout.write(`nodes seeded in each cell: ${runs[0].seedNodes}\n`);
  process.stdout.write('| run | mirrored: longest gap | acked / failed | single-cell: longest gap | acked / failed | ratio (goal ≤ 10 %) |\n|---|---|---|---|---|---|\n');
  runs.forEach((r, i) => {
    process.stdout.write(`| ${i + 1} | ${r.mirrored.longestGapMs} ms | ${r.mirrored.acked} / ${r.mirrored.failed} | ${r.single.longestGapMs} ms | ${r.single.acked} / ${r.single.failed} | ${pct(r.mirrored.longestGapMs / r.single.longestGapMs)} |\n`);
  });
  const ratios = runs.map((r) => r.mirrored.longestGapMs / r.single.longestGapMs);
  process.stdout.write(`ratio: min ${pct(Math.min(...ratios))}, max ${pct(Math.max(...ratios))}; runs within the goal: ${ratios.filter((x) => x <= 0.1).length} of ${runs.length}\n`);
  for (const [i, r] of runs.entries()) process.stdout.write(`run ${i + 1} promotion: ${r.promotion}\n  during its longest gap: ${r.mirrored.gapAttempts.join(' | ')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
