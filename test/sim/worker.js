#!/usr/bin/env node
// The sim's "drive worker": a child process in the cell's process group that keeps an LMDB reader slot in
// slabs/cell.lmdb, like the I/O workers a real Cortex (v2.242+) spawns for itself and its axon/jsonstor sub-cells.
// As the real ones, it ends on SIGTERM (the group's, or the cell's graceful stop) and survives its parent being
// SIGKILLed (as by the OOM killer), still holding the slot. Unlike them, it gives up after SYN_SIM_ORPHAN_MS
// (default 120 s) without a parent, so a test that forgets it does not leak it for ever.
//   node test/sim/worker.js <cell dir>
import { readFileSync } from 'node:fs';
import path from 'node:path';
// synup's data-v1 binding first, as storage.js: it points lmdb-js's loader at it (built dist/; see src/lmdb/binding.ts).
import '../../dist/lmdb/binding.js';
import { open } from 'lmdb';

const [dir] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: worker.js <cell dir>\n');
  process.exit(2);
}
const orphanMs = Number(process.env.SYN_SIM_ORPHAN_MS ?? 120_000);
const parent = process.ppid;
/** The parent now (process.ppid is read once at start): after the parent dies, init or a subreaper adopts us. */
const currentParent = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ')[1]);
const env = open({ path: path.join(dir, 'slabs', 'cell.lmdb'), noSubdir: false, readOnly: true, maxDbs: 256, mapSize: 2 ** 30, encoding: 'binary', keyEncoding: 'binary' });
// A read takes a slot in lock.mdb's reader table, with this pid, until the env is closed.
env.getBinary(Buffer.from('any'));
const read = env.useReadTransaction();

const exit = () => {
  read.done();
  void env.close().finally(() => process.exit(0));
};
process.on('SIGTERM', exit);
process.on('SIGINT', exit);
let orphanSince = 0;
setInterval(() => {
  if (currentParent() === parent) return;
  orphanSince ||= Date.now();
  if (Date.now() - orphanSince > orphanMs) exit();
}, 1000);
