#!/usr/bin/env node
// Issue 20: compose single-cell downtime, synup against the devops guide's manual way, on copies of the same seeded
// Cortex in the same run, on the container lab (scripts/container-lab.sh; skipped with the reason without it).
//   synup:  `synup upgrade --to 2.250.0 --backup -y` (adapter compose; live backup before the stop, cold defrag, verify)
//   manual: Synapse's backup tool in the container (live), `docker compose down`, the tag edited in the compose file,
//           `docker compose up -d`, wait until /api/v1/active says active
// Both: API back = stop → active; migrated = stop → Docker's stamp of `...model migrations complete!`.
// Run after `npm run build`: node bench/compose-downtime.mjs [--fqdns 20000] [--cards 2000] [--runs 1]
//   a multi-GB fragmented cell: [--blob-mb 2048 --blob-kb 100 [--delete-percent 50]]: that many MB of it:dev:str
//   nodes of blob-kb each (overflow pages in the layer and in the nexus log), then every other one deleted again
//   (free pages the compaction drops).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const FQDNS = arg('fqdns', 20_000);
const CARDS = arg('cards', 2000);
const RUNS = arg('runs', 1);
const BLOB_MB = arg('blob-mb', 0);
const BLOB_KB = arg('blob-kb', 100);
const DELETE_PERCENT = arg('delete-percent', 50);
const FROM = '2.242.0';
const TO = '2.250.0';

const labDir = process.env.SYNUP_CONTAINER_LAB ?? path.join(root, '.container-lab');
if (!existsSync(path.join(labDir, 'env'))) {
  console.log(`compose downtime bench skipped: no container lab at ${labDir} (run scripts/container-lab.sh)`);
  process.exit(0);
}
const labEnv = Object.fromEntries(readFileSync(path.join(labDir, 'env'), 'utf8').split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const env = { PATH: `${labEnv.SYNUP_LAB_DOCKER_BIN}:${process.env.PATH}`, DOCKER_HOST: labEnv.DOCKER_HOST, HOME: process.env.HOME ?? '/root', CI: 'true', NO_COLOR: '1' };
const registry = labEnv.SYNUP_LAB_REGISTRY;
const image = (v) => `${registry}/vertexproject/synapse-cortex:v${v}`;
const docker = (args, cwd) => execa(path.join(labEnv.SYNUP_LAB_DOCKER_BIN, 'docker'), args, { env, extendEnv: false, cwd, reject: false, stdin: 'ignore', timeout: 1_800_000 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function api(cell, method, route, body, timeoutMs = 600_000) {
  const cert = readFileSync(path.join(cell.dir, 'sslcert.pem'));
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: cell.port, path: route, method, ca: cert, checkServerIdentity: () => undefined, auth: 'root:secret', timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function waitActive(cell, timeoutMs = 600_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // the certificate appears at the first boot: until then, not active
    const r = existsSync(path.join(cell.dir, 'sslcert.pem')) ? await api(cell, 'GET', '/api/v1/active', undefined, 5000).catch(() => null) : null;
    if (r && JSON.parse(r.text).result?.active === true) return Date.now();
    if (Date.now() > deadline) throw new Error(`not active after ${timeoutMs} ms`);
    await sleep(100);
  }
}

let n = 0;
async function newCell(from) {
  const work = path.join(os.tmpdir(), `synup-bench-compose-${process.pid}-${n++}`);
  const dir = path.join(work, 'cortex00');
  mkdirSync(path.join(work, 'backups'), { recursive: true });
  if (from) execFileSync('cp', ['-a', '--sparse=always', from, dir]);
  else {
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'cell.yaml'), 'https:port: 4443\nauth:passwd: secret\n');
  }
  execFileSync('chown', ['-R', '999:999', dir, path.join(work, 'backups')]);
  const port = await freePort();
  const project = `synupbench${process.pid}x${n}`;
  const compose = (tag) => stringify({ services: { cortex: { image: image(tag), user: '999', restart: 'unless-stopped', volumes: ['./cortex00:/vertex/storage', './backups:/vertex/backups'], ports: [`127.0.0.1:${port}:4443`], stop_grace_period: '30s' } } });
  writeFileSync(path.join(work, 'docker-compose.yaml'), compose(FROM));
  writeFileSync(path.join(work, 'synup.yaml'), stringify({
    cell: { name: 'cortex00', dir: './cortex00' }, state: { dir: './state' }, backup: { dir: './synup-backups', maxAge: '1h' },
    service: { adapter: 'compose', stopTimeout: '30s', compose: { file: 'docker-compose.yaml', service: 'cortex', project, image: `${registry}/vertexproject/synapse-cortex` } },
    health: { check: 'https', port, startTimeout: '10m' },
  }));
  const cell = { work, dir, port, project, compose: (args) => docker(['compose', '-p', project, ...args], work), setTag: (tag) => writeFileSync(path.join(work, 'docker-compose.yaml'), compose(tag)) };
  return cell;
}

async function remove(cell) {
  await cell.compose(['down', '-v', '-t', '5']);
  rmSync(cell.work, { recursive: true, force: true });
}

/** Docker's stamp (ms) of the last `...model migrations complete!` of the container's log. */
async function migratedStamp(cell) {
  const { stdout } = await cell.compose(['logs', '--no-log-prefix', '--timestamps', 'cortex']);
  // eslint-disable-next-line no-control-regex
  const line = stdout.split('\n').map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')).filter((l) => l.includes('model migrations complete')).at(-1);
  return line ? Date.parse(line.slice(0, line.indexOf(' '))) : null;
}

const fmt = (ms) => (ms == null ? '   n/a' : `${(ms / 1000).toFixed(1)} s`.padStart(8));

// Seed once.
const seed = await newCell(null);
let template;
try {
  await seed.compose(['up', '-d', 'cortex']);
  await waitActive(seed);
  const t = Date.now();
  for (const query of ['for $i in $lib.range($n) { [inet:fqdn=`h{$i}.synup.test`] }', 'for $i in $lib.range($c) { [econ:pay:card=* :pan=`4111110000{$i}`] }']) {
    const r = await api(seed, "POST", "/api/v1/storm/call", { query: `${query} fini { return((0)) }`, opts: { vars: { n: FQDNS, c: CARDS } } }, 1_800_000);
    if (r.status !== 200) throw new Error(`seeding: ${r.text.slice(0, 200)}`);
  }
  if (BLOB_MB > 0) {
    // in batches, so that no single Storm query runs for long; then delete DELETE_PERCENT % of them again
    const count = Math.ceil((BLOB_MB * 1024) / BLOB_KB);
    const blob = 'x'.repeat(BLOB_KB * 1024);
    const batch = Math.max(1, Math.floor((64 * 1024) / BLOB_KB));
    for (let from = 0; from < count; from += batch) {
      const r = await api(seed, 'POST', '/api/v1/storm/call', { query: 'for $i in $lib.range($to, $from) { [it:dev:str=`b{$i}-{$blob}`] } fini { return((0)) }', opts: { vars: { from, to: Math.min(count, from + batch), blob } } }, 1_800_000);
      if (r.status !== 200) throw new Error(`seeding blobs: ${r.text.slice(0, 200)}`);
    }
    const every = Math.max(1, Math.round(100 / Math.max(1, DELETE_PERCENT)));
    for (let from = 0; from < count; from += batch * every) {
      const r = await api(seed, 'POST', '/api/v1/storm/call', { query: 'for $i in $lib.range($to, $from, $every) { it:dev:str=`b{$i}-{$blob}` | delnode } fini { return((0)) }', opts: { vars: { from, to: Math.min(count, from + batch * every), every, blob } } }, 1_800_000);
      if (r.status !== 200) throw new Error(`deleting blobs: ${r.text.slice(0, 200)}`);
    }
    // Storm's $lib.range is (stop, start, step): a silent empty loop otherwise, so the count is checked
    const counts = JSON.parse((await api(seed, 'POST', '/api/v1/storm/call', { query: 'return($lib.view.get().getFormCounts())' })).text).result;
    const kept = count - Math.ceil(count / every);
    if (counts['it:dev:str'] !== kept) throw new Error(`seeding blobs: ${counts['it:dev:str']} it:dev:str, expected ${kept}`);
    console.log(`seeded ${count} it:dev:str of ${BLOB_KB} KiB (${BLOB_MB} MiB), deleted every ${every}${every === 1 ? 'st' : 'nd'} one again`);
  }
  await seed.compose(['stop', '-t', '30', 'cortex']);
  template = path.join(os.tmpdir(), `synup-bench-compose-template-${process.pid}`);
  execFileSync('cp', ['-a', '--sparse=always', seed.dir, template]);
  const size = execFileSync('du', ['-sh', template]).toString().split('\t')[0];
  console.log(`seeded ${FQDNS} inet:fqdn + ${CARDS} econ:pay:card on ${FROM} in ${((Date.now() - t) / 1000).toFixed(0)} s; cell ${size}`);
} finally {
  await remove(seed);
}

const rows = [];
try {
  for (let run = 1; run <= RUNS; run++) {
    // synup
    const a = await newCell(template);
    try {
      await a.compose(['up', '-d', 'cortex']);
      await waitActive(a);
      const r = await execa(process.execPath, [path.join(root, 'bin', 'synup.js'), 'upgrade', '--to', TO, '--backup', '-y', '--json'], { cwd: a.work, env: { ...env, SYNUP_HEALTH_PASSWORD: 'secret' }, extendEnv: false, reject: false, timeout: 1_800_000 });
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1));
      if (r.exitCode !== 0) throw new Error(`synup exit ${r.exitCode}: ${r.stderr.split('\n').slice(-3).join(' ')}`);
      const steps = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step' && e.state === 'completed' && ['stop', 'cold-defrag', 'start', 'wait-migrations', 'confirm'].includes(e.step));
      rows.push({ run, way: 'synup', apiBack: summary.downtimeMs, migrated: summary.migratedMs, steps: steps.map((e) => `${e.step} ${(e.durationMs / 1000).toFixed(1)} s`).join(', ') });
    } finally {
      await remove(a);
    }
    // manual (devops guide)
    const b = await newCell(template);
    try {
      await b.compose(['up', '-d', 'cortex']);
      await waitActive(b);
      const backup = await b.compose(['exec', '-T', 'cortex', 'python', '-m', 'synapse.tools.service.backup', '/vertex/storage', `/vertex/backups/run${run}`]);
      if (backup.exitCode !== 0) throw new Error(`backup: ${backup.stderr}`);
      const stop = Date.now();
      await b.compose(['down', '-t', '30']);
      b.setTag(TO);
      await b.compose(['up', '-d', 'cortex']);
      const activeAt = await waitActive(b);
      let migratedAt = null;
      for (let i = 0; i < 600 && migratedAt === null; i++) {
        migratedAt = await migratedStamp(b);
        if (migratedAt === null) await sleep(500);
      }
      rows.push({ run, way: 'manual', apiBack: activeAt - stop, migrated: migratedAt === null ? null : migratedAt - stop });
    } finally {
      await remove(b);
    }
  }
} finally {
  rmSync(template, { recursive: true, force: true });
}

console.log(`\ncompose ${FROM} → ${TO}, same seeded cell, same run (downtime from the stop)`);
console.log('run  way       API back  migrated');
for (const r of rows) console.log(`${String(r.run).padStart(3)}  ${r.way.padEnd(8)} ${fmt(r.apiBack)}  ${fmt(r.migrated)}${r.steps ? `  (${r.steps})` : ''}`);
for (const run of new Set(rows.map((r) => r.run))) {
  const s = rows.find((r) => r.run === run && r.way === 'synup');
  const m = rows.find((r) => r.run === run && r.way === 'manual');
  if (s && m) console.log(`run ${run}: synup/manual API back ${(s.apiBack / m.apiBack).toFixed(2)}×, migrated ${s.migrated && m.migrated ? (s.migrated / m.migrated).toFixed(2) : 'n/a'}×`);
}
