#!/usr/bin/env node
// Issue 23 on the real Synapse (../shared/synapse-lab, SYN_LAB): how long `synup check` takes on a real Cortex
// (through Storm while it runs, offline from its layer files once stopped; goals ≤ 2 s and ≤ 1 s on 100 000 nodes),
// and the first boot's migration time it predicts from the cell's node counts against the one measured by a real
// `synup upgrade` (its start + wait-migrations steps: start → active and migrated; goal within ±30 %).
//   SYN_LAB=/path/to/lab node bench/impact-real.mjs [scenario…]     scenarios: see SCENARIOS (default: all)
//   SYN_LAB=/path/to/lab node bench/impact-real.mjs --calibrate [calibration…]   see CALIBRATIONS (default: all)
//     SYNUP_BENCH_REHEARSALS=3: rehearse each backup three times (the prediction takes the median)
// Each scenario boots a fresh cell at `from`, seeds it through Storm, checks it, stops it, checks it offline, and
// upgrades it to 2.250.0 with synup (--backup). Numbers are printed as a table; nothing is kept.
// Each calibration seeds a fresh cell to one size, backs it up, rehearses 2.250.0 on the backup (`synup rehearse`:
// the calibrating boot), starts the cell again, seeds or deletes nodes to another size, and prints side by side for that size: the
// prediction at the built-in rates, the prediction calibrated by the rehearsal, and the first boot `synup upgrade`
// measures.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const LAB = process.env.SYN_LAB;
if (!LAB) {
  process.stdout.write('skipped: set SYN_LAB to a lab prepared by ../shared/synapse-lab/setup.sh to measure on the real Cortex\n');
  process.exit(0);
}
const RUN_CORTEX = process.env.SYN_LAB_RUN_CORTEX ?? path.join(root, '..', 'shared', 'synapse-lab', 'run-cortex.sh');
const TO = '2.250.0';

/** Storm seeds: each `[query, vars]` runs once (loops in Storm: one HTTP call per seed). */
const fqdns = (n, d) => ['for $i in $lib.range($n) { [inet:fqdn=`h{$i}.{$d}`] }', { n, d }];
const cards = (n) => ['for $i in $lib.range($n) { $p = ($i + 4111110000000000) [econ:pay:card=* :pan=$p] }', { n }];
const ipv4 = (n) => ['for $i in $lib.range($n) { [inet:ipv4=($i + 167772160)] }', { n }];
const urls = (n) => ['for $i in $lib.range($n) { [inet:url=`http://u{$i}.example.com/p`] }', { n }];
const servers = (n) => ['for $i in $lib.range($n) { [inet:server=`tcp://10.1.{($i / 250)}.{($i % 250)}:80`] }', { n }];

const SCENARIOS = {
  // 2.242.0 → 2.250.0: one release with migrations (2.243.0: econ:pay:card → econ:pay:pan, the user email index)
  'small-2.242': { from: '2.242.0', seeds: [] },
  '100k-2.242': { from: '2.242.0', seeds: [fqdns(95_000, 'bench.example.com'), cards(5_000)] },
  // 2.180.0 → 2.250.0: 10 releases with migrations (inet:ipv4/ipv6, it:sec:cpe, inet:url/client/server, drive, …)
  'small-2.180': { from: '2.180.0', seeds: [] },
  '30k-2.180': { from: '2.180.0', seeds: [ipv4(20_000), urls(5_000), servers(5_000)] },
  // Held out (not used to fit MIGRATION_RATES): other sizes and mixes of the same migrations.
  'val-2.242': { from: '2.242.0', seeds: [fqdns(30_000, 'val.example.com'), cards(2_500)] },
  'val-2.180': { from: '2.180.0', seeds: [ipv4(5_000), urls(8_000), servers(2_000), cards(1_500)] },
  // Held out from the refit on all the runs above.
  'held-2.242': { from: '2.242.0', seeds: [fqdns(50_000, 'held.example.com'), cards(4_000)] },
  'held-2.180': { from: '2.180.0', seeds: [urls(6_000), servers(3_000), cards(2_000)] },
  // Held out from the last refit (on the held-* runs): more node work, to see the rates.
  'rate-2.242': { from: '2.242.0', seeds: [cards(20_000)] },
  'rate-2.180': { from: '2.180.0', seeds: [urls(30_000)] },
};

function api(cell, port, route, body, timeoutMs = 900_000) {
  const ca = readFileSync(path.join(cell, 'sslcert.pem'));
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: route, method: body === undefined ? 'GET' : 'POST', ca, checkServerIdentity: () => undefined, auth: 'root:secret', timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${route}: no answer`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, timeoutMs, probe) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}
const alive = (pgid) => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).some((pid) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[2]) === pgid && f[0] !== 'Z';
  } catch {
    return false;
  }
});

/** A fresh work dir with a cell at `from` (cell.yaml, synup.yaml), and synup run in it. */
function newCell(name) {
  const work = mkdtempSync(path.join(os.tmpdir(), `synup-bench-impact-${name}-`));
  const cell = path.join(work, 'cortex00');
  mkdirSync(cell);
  const port = 26000 + Math.floor(Math.random() * 900);
  writeFileSync(path.join(cell, 'cell.yaml'), `https:port: ${port}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${port + 1000}/\n`);
  writeFileSync(path.join(work, 'synup.yaml'), JSON.stringify({
    cell: { name: 'cortex00', dir: './cortex00' }, state: { dir: './state' }, backup: { dir: './backups', maxAge: '1h' },
    changelog: path.join(LAB, `src-v${TO}`, 'CHANGELOG.rst'),
    service: { adapter: 'process', stopTimeout: '60s', process: { command: [RUN_CORTEX, `${LAB}/src-v{version}`, '{dir}'] } },
    health: { port, password: 'secret', startTimeout: '600s' },
  }));
  const synup = (args) => execa(process.execPath, [path.join(root, 'bin', 'synup.js'), ...args], { cwd: work, reject: false, env: { CI: 'true', NO_COLOR: '1' }, timeout: 1_800_000 });
  return { work, cell, port, synup };
}

/** The first boot of a fresh cell (synup start needs a version in the data): the lab's script, its own process group. */
async function firstBoot({ work, cell, port }, from) {
  const fd = openSync(path.join(work, 'first.log'), 'a');
  const first = spawn(RUN_CORTEX, [path.join(LAB, `src-v${from}`), cell], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  await until(`${from} active`, 300_000, async () => JSON.parse((await api(cell, port, '/api/v1/active')).text).result.active);
  return first.pid;
}

async function seed({ cell, port }, seeds) {
  const t = Date.now();
  for (const [query, vars] of seeds) {
    const r = await api(cell, port, '/api/v1/storm/call', { query, opts: { vars } });
    if (JSON.parse(r.text).status !== 'ok') throw new Error(`seed ${query.slice(0, 50)}: ${r.text.slice(0, 300)}`);
  }
  return (Date.now() - t) / 1000;
}

async function stopGroup(pgid) {
  process.kill(-pgid, 'SIGTERM');
  await until('the Cortex to stop', 120_000, async () => !alive(pgid));
}

/** `synup … --json` that must succeed: its one JSON document (or its JSON lines, for upgrade). */
async function synupJson(synup, args) {
  const r = await synup([...args, '--json']);
  if (r.exitCode !== 0) throw new Error(`synup ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.slice(-1500)}`);
  return r.stdout;
}

/** synup upgrade's first boot as it measures it: its start + wait-migrations steps (start → active and migrated). */
async function measuredUpgrade(synup) {
  const events = (await synupJson(synup, ['upgrade', '--to', TO, '--backup', '-y'])).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const done = (step) => events.find((e) => e.type === 'step' && e.step === step && e.state === 'completed')?.durationMs ?? null;
  const summary = events.find((e) => e.type === 'summary');
  return { bootS: (done('start') + done('wait-migrations')) / 1000, modelS: summary?.modelMigrationMs != null ? summary.modelMigrationMs / 1000 : null };
}

function cleanUp(work, pgid) {
  if (pgid) try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ }
  if (!process.env.SYNUP_BENCH_KEEP) rmSync(work, { recursive: true, force: true });
  else process.stderr.write(`kept ${work}\n`);
}

async function scenario(name, { from, seeds }) {
  const setup = newCell(name);
  const { work, synup } = setup;
  const row = { name, from, to: TO };
  let pgid = null;
  try {
    pgid = await firstBoot(setup, from);
    row.seedS = await seed(setup, seeds);

    for (const pass of ['cold', 'warm']) {
      const t = Date.now();
      const report = JSON.parse(await synupJson(synup, ['check', '--to', TO]));
      row[`storm_${pass}_s`] = (Date.now() - t) / 1000;
      row[`storm_${pass}_read_ms`] = report.checked.readMs;
      row.nodes = report.checked.nodes;
      row.predictedS = report.predictedMigrationSeconds;
      row.migrationNodes = report.migrations.reduce((s, m) => s + m.nodes, 0);
    }

    await stopGroup(pgid);
    pgid = null;
    const t = Date.now();
    const off = JSON.parse(await synupJson(synup, ['check', '--to', TO, '--offline']));
    row.offline_s = (Date.now() - t) / 1000;
    row.offline_read_ms = off.checked.readMs;
    row.offlineNodes = off.checked.nodes;

    row.measuredS = (await measuredUpgrade(synup)).bootS;
    row.load = os.loadavg()[0]; // the machine is shared: the 1-minute load average right after the first boot
    row.errorPct = ((row.predictedS - row.measuredS) / row.measuredS) * 100;
    await synup(['stop']);
  } finally {
    cleanUp(work, pgid);
  }
  return row;
}

/** Deletes `n` nodes of a form (a cell shrinking between its rehearsal and its upgrade). */
const drop = (form, n) => [`${form} | limit $n | delnode`, { n }];

/**
 * Calibration runs: `calibrate` seeds the cell the rehearsal measures, `change` is what is added or deleted before the
 * upgrade (the cell the prediction is for: the same versions, another size).
 */
const CALIBRATIONS = {
  'cal-2.242-up': { from: '2.242.0', calibrate: [cards(3_000)], change: [cards(12_000)] },
  'cal-2.242-down': { from: '2.242.0', calibrate: [cards(15_000)], change: [drop('econ:pay:card', 12_000)] },
  'cal-2.180-up': { from: '2.180.0', calibrate: [urls(2_000), cards(2_000)], change: [urls(4_000), servers(2_000), cards(8_000)] },
  'cal-2.180-down': { from: '2.180.0', calibrate: [urls(6_000), servers(2_000), cards(10_000)], change: [drop('econ:pay:card', 8_000), drop('inet:url', 4_000)] },
};

/** Rehearsals per calibration (SYNUP_BENCH_REHEARSALS): check predicts from the median over up to three. */
const REHEARSALS = Number(process.env.SYNUP_BENCH_REHEARSALS ?? 1);

async function calibration(name, { from, calibrate, change }) {
  const setup = newCell(name);
  const { work, synup } = setup;
  const row = { name, from, to: TO };
  let pgid = null;
  try {
    pgid = await firstBoot(setup, from);
    await seed(setup, calibrate);
    await stopGroup(pgid);
    pgid = null;
    const backup = JSON.parse(await synupJson(synup, ['backup', '--cold']));
    const rehearsals = [];
    for (let i = 0; i < REHEARSALS; i++) {
      const rehearsal = JSON.parse(await synupJson(synup, ['rehearse', '--backup', backup.dir, '--to', TO, '--port', String(setup.port)]));
      if (!rehearsal.migrationWork) throw new Error(`the rehearsal counted no migration work: ${JSON.stringify(rehearsal).slice(0, 300)}`);
      rehearsals.push(rehearsal);
    }
    Object.assign(row, {
      rehearsals: rehearsals.map((r) => r.id), calibrationNodes: rehearsals[0].migrationWork, calibrationLoad: os.loadavg()[0],
      calibrationBootS: rehearsals.map((r) => r.migrationMs / 1000), calibrationModelS: rehearsals.map((r) => r.modelMigrationMs / 1000),
    });

    await synupJson(synup, ['start']);
    await seed(setup, change);
    const report = JSON.parse(await synupJson(synup, ['check', '--to', TO]));
    Object.assign(row, { nodes: report.migrationEstimate.work, builtInS: report.migrationEstimate.builtInSeconds, calibratedS: report.predictedMigrationSeconds, calibratedModelS: report.migrationEstimate.migrationSeconds, source: report.migrationEstimate.source });
    await synupJson(synup, ['stop']);
    const measured = await measuredUpgrade(synup);
    Object.assign(row, { measuredS: measured.bootS, measuredModelS: measured.modelS, load: os.loadavg()[0] });
    row.builtInErrorPct = ((row.builtInS - row.measuredS) / row.measuredS) * 100;
    row.calibratedErrorPct = ((row.calibratedS - row.measuredS) / row.measuredS) * 100;
    await synup(['stop']);
  } finally {
    cleanUp(work, pgid);
  }
  return row;
}

const f = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : String(x));
const nodesOf = (w) => `${w.createNodes} created / ${w.normalizeNodes} re-normed`;
const calibrating = process.argv[2] === '--calibrate';
const [table, run] = calibrating ? [CALIBRATIONS, calibration] : [SCENARIOS, scenario];
const args = process.argv.slice(calibrating ? 3 : 2);
const names = args.length ? args : Object.keys(table);
const rows = [];
for (const name of names) {
  if (!table[name]) throw new Error(`unknown ${calibrating ? 'calibration' : 'scenario'} ${name}; known: ${Object.keys(table).join(', ')}`);
  process.stderr.write(`${name}…\n`);
  const row = await run(name, table[name]);
  process.stderr.write(JSON.stringify(row) + '\n');
  rows.push(row);
}
if (calibrating) {
  process.stdout.write('| calibration | rehearsed cell: migrated nodes, measured boot (model migrations) | upgraded cell: migrated nodes | built-in prediction (error) | calibrated prediction (error) | measured first boot (model migrations) | load at rehearsal / upgrade |\n|---|---|---|---|---|---|---|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.name} ${r.from}→${r.to} | ${nodesOf(r.calibrationNodes)}, ${r.calibrationBootS.map((b, i) => `${f(b, 1)} s (${f(r.calibrationModelS[i], 1)} s)`).join(', ')} | ${nodesOf(r.nodes)} | ${f(r.builtInS, 1)} s (${f(r.builtInErrorPct, 0)} %) | ${f(r.calibratedS, 1)} s (${f(r.calibratedErrorPct, 0)} %) | ${f(r.measuredS, 1)} s (${f(r.measuredModelS, 1)} s) | ${f(r.calibrationLoad, 1)} / ${f(r.load, 1)} |\n`);
  }
} else {
  process.stdout.write('| scenario | nodes | seed s | check via Storm: cold / warm s (Storm read ms) | check offline s (read ms) | nodes migrations rewrite | predicted first boot s | measured first boot s | error | load |\n|---|---|---|---|---|---|---|---|---|---|\n');
  for (const r of rows) {
    process.stdout.write(`| ${r.name} ${r.from}→${r.to} | ${r.nodes} | ${f(r.seedS, 1)} | ${f(r.storm_cold_s)} / ${f(r.storm_warm_s)} (${r.storm_cold_read_ms} / ${r.storm_warm_read_ms}) | ${f(r.offline_s)} (${r.offline_read_ms}) | ${r.migrationNodes} | ${f(r.predictedS, 1)} | ${f(r.measuredS, 1)} | ${f(r.errorPct, 0)} % | ${f(r.load, 1)} |\n`);
  }
}
