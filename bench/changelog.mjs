#!/usr/bin/env node
// Issue 3 targets: parse the full real CHANGELOG.rst warm < 20 ms; `synup plan --json` wall time < 0.3 s.
// Run after `npm run build`: node bench/changelog.mjs
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parseChangelog } from '../dist/changelog/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const file = path.join(root, 'changelogs', 'synapse-CHANGELOG.rst');
if (!existsSync(file)) {
  console.log(`changelog bench skipped: ${file} is absent`);
  process.exit(0);
}
const text = readFileSync(file, 'utf8');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(1)} ms`.padStart(9);

/** Every release body read and every migration derived: the whole file, not just the release index. */
function parseFully() {
  const changelog = parseChangelog(text);
  for (const release of changelog.releases) release.migrations;
  return changelog;
}

function timeWarm(fn, runs = 50) {
  for (let i = 0; i < 20; i++) fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function timeProcess(args, runs = 7) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await execa(process.execPath, args);
    times.push(performance.now() - t0);
  }
  return median(times);
}

const synup = path.join(root, 'bin', 'synup.js');
const fully = parseFully();
const full = timeWarm(parseFully);
const index = timeWarm(() => parseChangelog(text));
// A fresh process each time: what one CLI run pays (no JIT warm-up), as CPU time of the parse alone.
const coldScript = `import { readFileSync } from 'node:fs'; import { parseChangelog } from ${JSON.stringify(path.join(root, 'dist', 'changelog', 'index.js'))};
const text = readFileSync(${JSON.stringify(file)}, 'utf8'); const t0 = performance.now();
const c = parseChangelog(text); for (const r of c.releases) r.migrations; console.log(performance.now() - t0);`;
const cold = [];
for (let i = 0; i < 5; i++) cold.push(Number((await execa(process.execPath, ['--input-type=module', '-e', coldScript])).stdout));
const planArgs = [synup, 'plan', '--from', '2.176.0', '--to', '2.250.0', '--changelog', file, '--json'];
const plan = await timeProcess(planArgs);
const cli = await timeProcess([synup, '--version']);
const node = await timeProcess(['-e', '0']);

console.log(`changelog: ${(text.length / 1024).toFixed(0)} KiB, ${fully.releases.length} releases, ${fully.releases.reduce((n, r) => n + r.migrations.length, 0)} migrations`);
console.log(`parse, full (every release read), warm, median of 50: ${ms(full)}   target < 20 ms`);
console.log(`parse, release index only (what a plan needs), warm:  ${ms(index)}`);
console.log(`parse, full, cold (fresh process), median of 5:      ${ms(median(cold))}`);
console.log(`synup plan --json 2.176.0 → 2.250.0, median of 7:     ${ms(plan)}   target < 300 ms`);
console.log(`  reference: synup --version (CLI start, no command): ${ms(cli)}`);
console.log(`  reference: node -e 0:                               ${ms(node)}`);
