// `node dist/lmdb/nexus-read.js <cellDir>`: loads lmdb-js (and proves its data-v1 binding), waits for a line on stdin,
// then prints one JSON line, {"reading": …} or {"error": {code, message, hint}} (exit 1). The child process of
// prepareNexusRead (nexus.ts): started before the cell stops, told to read after; the envs it opens die with it.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { errorMessage, SynupError } from '../errors.js';
import { assertNativeDataV1 } from './native.js';
import { readNexusEntryInProcess, readNexusIndexInProcess } from './nexus.js';

// `--now [--entry N]`: reads at once, and also prints the raw entry at offset N ({"reading": …, "entry": base64|null}).
const [cellDir, ...flags] = process.argv.slice(2);
try {
  if (!cellDir) throw new SynupError('usage', 'usage: nexus-read.js <cellDir> [--now [--entry N]] (without --now: reads once a line arrives on stdin)');
  await assertNativeDataV1();
  if (!flags.includes('--now')) {
    const lines = createInterface({ input: process.stdin });
    const told = await Promise.race([once(lines, 'line').then(() => true), once(lines, 'close').then(() => false)]);
    if (!told) throw new SynupError('failed', 'stdin closed before a read was asked for: not reading');
  }
  const at = flags.indexOf('--entry');
  const offset = at >= 0 ? Number(flags[at + 1]) : null;
  if (offset !== null && !(Number.isSafeInteger(offset) && offset >= 0)) throw new SynupError('usage', `--entry wants an offset (a whole number), got ${JSON.stringify(flags[at + 1])}`);
  const reading = await readNexusIndexInProcess(cellDir);
  process.stdout.write(`${JSON.stringify({ reading, ...(offset === null ? {} : { entry: await readNexusEntryInProcess(cellDir, offset) }) })}\n`);
} catch (error) {
  const { code, hint } = error instanceof SynupError ? error : { code: 'failed', hint: undefined };
  process.stdout.write(`${JSON.stringify({ error: { code, message: errorMessage(error), hint } })}\n`);
  process.exitCode = 1;
}
process.exit();
