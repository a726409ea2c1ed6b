#!/usr/bin/env node
// node test/sim/nexus-index.js <dir> <port>: a running sim cell's nexus index (Synapse's getNexsIndx), one integer on
// stdout, read over its HTTPS API (trusting the cell's own sslcert.pem). Exit 1 when it does not answer, 2 on bad usage.
import { simRequest } from './index.js';

const [dir, port] = process.argv.slice(2);
if (!dir || !/^\d+$/.test(port ?? '') || process.argv.length !== 4) {
  process.stderr.write('usage: node test/sim/nexus-index.js <dir> <port>\n');
  process.exit(2);
}
try {
  const { status, json } = await simRequest({ dir, port: Number(port), path: '/api/v1/sim/nexus/indx', timeoutMs: 5000 });
  if (status !== 200) throw new Error(`HTTP ${status}: ${json.mesg ?? ''}`);
  process.stdout.write(`${json.result.indx}\n`);
} catch (error) {
  process.stderr.write(`nexus-index.js: ${/** @type {Error} */ (error).message}\n`);
  process.exit(1);
}
