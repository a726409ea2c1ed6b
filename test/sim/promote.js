#!/usr/bin/env node
// node test/sim/promote.js <dir> <port> [--failure] [--hold-ms N] [--mark FILE]: promotes a sim mirror, as
// `python -m synapse.tools.service.promote` does a Synapse one: graceful (the leader hands off) unless --failure (the
// leader is gone). --hold-ms: the tool takes that long before it asks (the real one connects, authenticates, checks
// the mirror for a second or two), a window for tests to signal synup mid-promotion. Exit 0 when promoted, 1 when not
// (the cell's reason on stdout, as the real tool prints it), 2 on bad usage. --mark: appends `start <epoch ms>` to
// FILE as it starts and `end <epoch ms> <exit code>` as it exits, so tests see when it ran without guessing.
import { appendFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [dir, port, ...flags] = process.argv.slice(2);
const failure = flags[0] === '--failure' ? Boolean(flags.shift()) : false;
const holdMs = flags[0] === '--hold-ms' && /^\d+$/.test(flags[1] ?? '') ? Number(flags.splice(0, 2)[1]) : 0;
const mark = flags[0] === '--mark' && flags[1] ? flags.splice(0, 2)[1] : undefined;
if (!dir || !/^\d+$/.test(port ?? '') || flags.length > 0) {
  process.stderr.write('usage: node test/sim/promote.js <dir> <port> [--failure] [--hold-ms N] [--mark FILE]\n');
  process.exit(2);
}
if (mark) {
  appendFileSync(mark, `start ${Date.now()}\n`);
  process.on('exit', (code) => appendFileSync(mark, `end ${Date.now()} ${code}\n`));
}
await sleep(holdMs);
process.stdout.write(`Promoting to leader: https://127.0.0.1:${port}/\n`);
const body = JSON.stringify({ graceful: !failure });
const req = https.request({ host: '127.0.0.1', port: Number(port), path: '/api/v1/sim/promote', method: 'POST', ca: readFileSync(path.join(dir, 'sslcert.pem')), timeout: 60_000 }, (res) => {
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (text += d));
  res.on('end', () => {
    let json = {};
    try {
      json = JSON.parse(text);
    } catch {
      // reported below
    }
    if (res.statusCode === 200 && json.status === 'ok') process.exit(0);
    process.stdout.write(`Failed to promote service to being a leader; ${json.mesg ?? `HTTP ${res.statusCode}`}\n`);
    process.exit(1);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
req.on('error', (error) => {
  process.stdout.write(`Failed to promote service https://127.0.0.1:${port}/: ${error.message}\n`);
  process.exit(1);
});
req.end(body);
