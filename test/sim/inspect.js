#!/usr/bin/env node
// node test/sim/inspect.js <dir> [--names]: what a sim cell's data says, as one JSON document on stdout — cell.guid, the
// cell:info versions, cell:vers, and per layer its model:version, node count and how many nodes each storage
// migration rewrote (--names: also the names of the nodes clients wrote). Read-only (an LMDB reader: works while the cell runs). Exit 2 on bad usage, 1 when unreadable.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SimStorage } from './storage.js';

const [dir, flag] = process.argv.slice(2);
const withNames = flag === '--names';
if (!dir || process.argv.length > 4 || (flag !== undefined && !withNames)) {
  process.stderr.write('usage: node test/sim/inspect.js <dir> [--names]\n');
  process.exit(2);
}
try {
  const storage = new SimStorage(dir, { readOnly: true });
  const state = { guid: readFileSync(path.join(dir, 'cell.guid'), 'utf8').trim(), ...storage.describe(), ...(withNames ? { names: storage.writtenNames() } : {}) };
  await storage.close();
  process.stdout.write(JSON.stringify(state) + '\n');
} catch (error) {
  process.stderr.write(`inspect.js: cannot read the sim cell at ${dir}: ${/** @type {Error} */ (error).message}\n`);
  process.exit(1);
}
