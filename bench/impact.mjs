#!/usr/bin/env node
// Issue 23: the time of `synup check --to 2.250.0` (the whole CLI process, and the part spent reading the cell) on a
// simulated Cortex with 100 000 nodes and 200 stored Storm objects: through Storm while it runs (goal ≤ 2 s) and
// offline from its layer files once stopped (goal ≤ 1 s). Median of 5 runs each. The real Cortex:
// bench/impact-real.mjs (SYN_LAB).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createSimCell, freePort, startSim } from '../test/sim/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const NODES = Number(process.env.SYNUP_BENCH_NODES ?? 100_000);
const RUNS = 5;
const work = mkdtempSync(path.join(os.tmpdir(), 'synup-bench-impact-'));
const cellDir = path.join(work, 'cortex00');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

try {
  // The sim deletes every 7th seeded node again: seed enough for NODES to remain.
  await createSimCell(cellDir, { version: '2.180.0', seed: Math.ceil((NODES * 7) / 6) });
  const macro = (i) => ({ iden: `m${i}`, name: `macro-${i}`, storm: Array.from({ length: 40 }, (_, l) => (l === 20 ? '$x = $lib.list()' : `inet:fqdn=host${l}.example.com | limit 1`)).join('\n') });
  writeFileSync(path.join(cellDir, 'sim-storm.json'), JSON.stringify({ macros: Array.from({ length: 200 }, (_, i) => macro(i)), props: { 'inet:whois:rec:registrant': 5 } }));
  const port = await freePort();
  writeFileSync(path.join(work, 'synup.yaml'), JSON.stringify({
    cell: { name: 'cortex00', dir: './cortex00' }, state: { dir: './state' },
    service: { adapter: 'process', process: { command: ['true'] } },
    health: { port, password: 'bench' },
  }));
  const synup = (args) => execa(process.execPath, [path.join(root, 'bin', 'synup.js'), ...args], { cwd: work, reject: false, env: { NO_COLOR: '1' } });
  const measure = async (args) => {
    const walls = [];
    const reads = [];
    let report;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const r = await synup(['check', '--to', '2.250.0', '--json', ...args]);
      walls.push(performance.now() - t);
      if (r.exitCode !== 0) throw new Error(`check ${args.join(' ')}: ${r.stderr}`);
      report = JSON.parse(r.stdout);
      reads.push(report.checked.readMs);
    }
    return { wall: median(walls), read: median(reads), report };
  };

  // The process adapter's status finds the sim by its lock on cell.guid: "running", so check goes through Storm.
  const sim = startSim({ dir: cellDir, version: '2.180.0', port, env: { SYN_SIM_PASSWORD: 'bench', SYN_SIM_STORM_START_MS: '0' } });
  await sim.waitForLog(/https listening/);
  const storm = await measure([]);
  await sim.stop();
  const offline = await measure(['--offline']);
  const f = (ms) => `${(ms / 1000).toFixed(2)} s`;
  process.stdout.write(`cell: ${storm.report.checked.nodes} nodes, ${storm.report.checked.stormObjects} Storm objects (${storm.report.checked.stormLines} lines), ${storm.report.code.length} hits\n`);
  process.stdout.write(`| synup check → 2.250.0 | whole command (median of ${RUNS}) | reading the cell | goal |\n|---|---|---|---|\n`);
  process.stdout.write(`| through Storm (running) | ${f(storm.wall)} | ${storm.read} ms | ≤ 2 s |\n`);
  process.stdout.write(`| offline (stopped) | ${f(offline.wall)} | ${offline.read} ms | ≤ 1 s |\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
