#!/usr/bin/env node
// Issue 3 targets: parse the full real CHANGELOG.rst warm < 20 ms; `synup plan --json` wall time < 0.3 s.
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { parseChangelog } from '../dist/changelog/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const file = path.join(root, '..', 'shared', 'changelogs', 'synapse-CHANGELOG.rst');
if (!existsSync(file)) {
  console.log(`skipped: ${file} is absent`);
  process.exit(0);
}
const text = readFileSync(file, 'utf8');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (let i = 0; i < 20; i++) parseChangelog(text);
const parse = [];
for (let i = 0; i < 50; i++) {
  const t0 = performance.now();
  parseChangelog(text);
  parse.push(performance.now() - t0);
}

const wall = [];
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  await execa(process.execPath, [path.join(root, 'bin', 'synup.js'), 'plan', '--from', '2.176.0', '--to', '2.250.0', '--changelog', file, '--json']);
  wall.push(performance.now() - t0);
}
const node = [];
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  await execa(process.execPath, ['-e', '0']);
  node.push(performance.now() - t0);
}
console.log(`changelog: ${(text.length / 1024).toFixed(0)} KiB, ${parseChangelog(text).releases.length} releases`);
console.log(`parse (warm, median of 50):        ${median(parse).toFixed(1)} ms   target < 20 ms`);
console.log(`synup plan --json (median of 7):   ${median(wall).toFixed(0)} ms   target < 300 ms`);
console.log(`  reference: bare \`node -e 0\`:    ${median(node).toFixed(0)} ms`);
