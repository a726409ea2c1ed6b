#!/usr/bin/env node
// `npm run bench`: every benchmark in this folder, one after the other (they measure wall time and memory, so they
// never run in parallel), each printing its numbers side by side with the reference tool measured in the same run.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n### ${file}\n`);
  const result = await execa(process.execPath, ['--expose-gc', path.join(here, file)], { stdio: 'inherit', reject: false });
  if (result.exitCode !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
