// `node dist/lmdb/nexus-read.js <cellDir>`: loads lmdb-js (and proves its data-v1 binding), waits for a line on stdin,
// then prints one JSON line, {"reading": …} or {"error": {code, message, hint}} (exit 1). The child process of
// prepareNexusRead (nexus.ts): started before the cell stops, told to read after; the envs it opens die with it.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { errorMessage, SynupError } from '../errors.js';
import { assertNativeDataV1 } from './native.js';
import { readNexusIndexInProcess } from './nexus.js';

const [cellDir] = process.argv.slice(2);
try {
  if (!cellDir) throw new SynupError('usage', 'usage: nexus-read.js <cellDir> (reads once a line arrives on stdin)');
  await assertNativeDataV1();
  const lines = createInterface({ input: process.stdin });
  const told = await Promise.race([once(lines, 'line').then(() => true), once(lines, 'close').then(() => false)]);
  if (!told) throw new SynupError('failed', 'stdin closed before a read was asked for: not reading');
  process.stdout.write(`${JSON.stringify({ reading: await readNexusIndexInProcess(cellDir) })}\n`);
} catch (error) {
  const { code, hint } = error instanceof SynupError ? error : { code: 'failed', hint: undefined };
  process.stdout.write(`${JSON.stringify({ error: { code, message: errorMessage(error), hint } })}\n`);
  process.exitCode = 1;
}
process.exit();
