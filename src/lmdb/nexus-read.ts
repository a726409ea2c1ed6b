// `node dist/lmdb/nexus-read.js <cellDir>`: one JSON line, {"reading": …} or {"error": {code, message, hint}} (exit 1).
// The child process of readNexusIndex (nexus.ts), so the envs lmdb-js opens die with it.
import { errorMessage, SynupError } from '../errors.js';
import { readNexusIndexInProcess } from './nexus.js';

const [cellDir] = process.argv.slice(2);
try {
  if (!cellDir) throw new SynupError('usage', 'usage: nexus-read.js <cellDir>');
  process.stdout.write(`${JSON.stringify({ reading: await readNexusIndexInProcess(cellDir) })}\n`);
} catch (error) {
  const { code, hint } = error instanceof SynupError ? error : { code: 'failed', hint: undefined };
  process.stdout.write(`${JSON.stringify({ error: { code, message: errorMessage(error), hint } })}\n`);
  process.exitCode = 1;
}
