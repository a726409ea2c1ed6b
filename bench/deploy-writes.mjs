#!/usr/bin/env node
// Issue 13: client-visible downtime of a mirrored Cortex upgrade with promotion (`synup deploy upgrade`) vs the
// single-cell upgrade of the same data (`synup upgrade`), seen by a client writing nodes at a steady rate the whole
// time: failed writes, the longest gap between two acknowledged writes, and whether every acknowledged write is on
// the leader afterwards (and on its mirror). Sim cells (test/sim) at 2.180.0 → 2.182.0: two releases with storage
// migrations before the listener and model migrations after it.
//   node bench/deploy-writes.mjs        SYNUP_BENCH_NODES (default 50000), SYNUP_BENCH_MIGRATION_MS (default 3000),
//                                       SYNUP_BENCH_WRITE_MS (default 20: 50 writes/s)
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { loadConfig } from '../dist/config/load.js';
import { createAdapter } from '../dist/service/index.js';
import { createSimCell, freePort, inspectSimCell } from '../test/sim/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SIM = path.join(root, 'test', 'sim');
const CHANGELOG = path.join(root, 'changelogs', 'sim-CHANGELOG.rst');
const NODES = Number(process.env.SYNUP_BENCH_NODES ?? 50_000);
const MIGRATION_MS = Number(process.env.SYNUP_BENCH_MIGRATION_MS ?? 3000);
const WRITE_MS = Number(process.env.SYNUP_BENCH_WRITE_MS ?? 20);
const FROM = '2.180.0';
const TO = '2.182.0';

const work = mkdtempSync(path.join(os.tmpdir(), 'synup-bench-deploy-'));
const started = [];

function serviceConfig(name, port, role) {
  const file = path.join(work, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      cell: { name, dir: `./${name}`, role },
      changelog: CHANGELOG,
      state: { dir: './state' },
      backup: { dir: `./backups/${name}`, maxAge: '1h' },
      service: { adapter: 'process', stopTimeout: '10s', process: { command: [process.execPath, path.join(SIM, 'cell.js'), '{dir}', '--version', '{version}', '--port', '{port}', '--migration-ms', String(MIGRATION_MS)] } },
      health: { port, startTimeout: '60s' },
    }),
  );
  const adapter = createAdapter(loadConfig({ file, cwd: work }).config, { cellDir: path.join(work, name), stateDir: path.join(work, 'state'), cwd: work });
  started.push(adapter);
  return { name, file, dir: path.join(work, name), port, adapter };
}

/** Writes one node named `name` to whichever endpoint takes it (last good first); the ack time, or null. */
function post(cell, name) {
  return new Promise((resolve) => {
    const req = https.request({ host: '127.0.0.1', port: cell.port, path: '/api/v1/sim/nodes', method: 'POST', ca: cell.ca, agent: cell.agent, timeout: 2000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(res.statusCode === 200 && JSON.parse(text).status === 'ok'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end(JSON.stringify({ name }));
  });
}

/** A client writing one node every WRITE_MS to the leader of `cells`, following a promotion by trying the others. */
function startWriter(cells) {
  for (const c of cells) Object.assign(c, { ca: readFileSync(path.join(c.dir, 'sslcert.pem')), agent: new https.Agent({ keepAlive: true }) });
  const acked = [];
  let failed = 0;
  let current = 0;
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const tick = Date.now();
      const name = `bench-${i}`;
      let ok = false;
      for (let k = 0; k < cells.length && !ok; k++) {
        const at = (current + k) % cells.length;
        if (await post(cells[at], name)) [ok, current] = [true, at];
      }
      if (ok) acked.push({ name, at: Date.now() });
      else failed++;
      await new Promise((r) => setTimeout(r, Math.max(0, WRITE_MS - (Date.now() - tick))));
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      for (const c of cells) c.agent.destroy();
      let longest = 0;
      for (let i = 1; i < acked.length; i++) longest = Math.max(longest, acked[i].at - acked[i - 1].at);
      return { acked: acked.map((a) => a.name), failed, longestGapMs: longest };
    },
  };
}

async function synup(args) {
  const r = await execa(process.execPath, [path.join(root, 'bin', 'synup.js'), ...args], { cwd: work, reject: false, env: { CI: 'true', NO_COLOR: '1' } });
  if (r.exitCode !== 0) throw new Error(`synup ${args.join(' ')} exit ${r.exitCode}:\n${r.stderr.slice(-3000)}`);
  return r;
}

const missing = (acked, names) => {
  const have = new Set(names);
  return acked.filter((n) => !have.has(n)).length;
};

try {
  process.stderr.write(`seeding ${NODES} nodes at ${FROM}…\n`);
  await createSimCell(path.join(work, 'cortex00'), { version: FROM, seed: NODES, timeoutMs: 600_000 });
  cpSync(path.join(work, 'cortex00'), path.join(work, 'cortex01'), { recursive: true });
  cpSync(path.join(work, 'cortex00'), path.join(work, 'single'), { recursive: true });
  writeFileSync(path.join(work, 'single', 'cell.guid'), 'b'.repeat(32));

  // Single cell: the same data upgraded in place.
  const single = serviceConfig('single', await freePort(), 'leader');
  await single.adapter.start(FROM);
  let writer = startWriter([single]);
  await new Promise((r) => setTimeout(r, 1000));
  const singleRun = await synup(['upgrade', '-c', single.file, '--to', TO, '--backup', '-y', '--json']);
  await new Promise((r) => setTimeout(r, 1000));
  const singleWrites = await writer.stop();
  const summary = singleRun.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'summary');
  const singleLost = missing(singleWrites.acked, (await inspectSimCell(single.dir, { names: true })).names);
  await single.adapter.stop({ timeoutMs: 10_000 });

  // Mirrored: cortex01 follows cortex00; the deployment upgrades the mirror, promotes it, upgrades the old leader.
  const leader = serviceConfig('cortex00', await freePort(), 'leader');
  appendFileSync(path.join(work, 'cortex01', 'cell.yaml'), `mirror: https://127.0.0.1:${leader.port}/\n`);
  const mirror = serviceConfig('cortex01', await freePort(), 'mirror');
  await leader.adapter.start(FROM);
  await mirror.adapter.start(FROM);
  writeFileSync(
    path.join(work, 'deployment.yaml'),
    stringify({
      name: 'bench',
      changelog: CHANGELOG,
      state: { dir: './state' },
      mirror: { nexusIndex: [process.execPath, path.join(SIM, 'nexus-index.js'), '{dir}', '{port}'], promote: [process.execPath, path.join(SIM, 'promote.js'), '{dir}', '{port}'] },
      services: [
        { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml' },
        { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00' },
      ],
    }),
  );
  writer = startWriter([leader, mirror]);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  const deployRun = await synup(['deploy', 'upgrade', '--to', TO, '--backup', '-y']);
  const deployMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  const mirroredWrites = await writer.stop();
  const catchUp = /catch-up:cortex00\] done: (.*)/.exec(deployRun.stderr)?.[1];
  await new Promise((r) => setTimeout(r, 1000)); // the old leader, now a mirror, pulls the last writes
  const [newLeader, oldLeader] = [await inspectSimCell(mirror.dir, { names: true }), await inspectSimCell(leader.dir, { names: true })];
  const result = {
    nodes: NODES,
    migrationMs: MIGRATION_MS,
    writeEveryMs: WRITE_MS,
    single: { downtimeMs: summary?.downtimeMs ?? null, longestGapMs: singleWrites.longestGapMs, failedWrites: singleWrites.failed, acked: singleWrites.acked.length, lostAcked: singleLost },
    mirrored: {
      deployMs,
      longestGapMs: mirroredWrites.longestGapMs,
      failedWrites: mirroredWrites.failed,
      acked: mirroredWrites.acked.length,
      lostAckedOnNewLeader: missing(mirroredWrites.acked, newLeader.names),
      lostAckedOnOldLeader: missing(mirroredWrites.acked, oldLeader.names),
      promotion: /promote:cortex01\] done: (.*)/.exec(deployRun.stderr)?.[1],
      lastCatchUp: catchUp,
    },
  };
  result.ratio = result.mirrored.longestGapMs / result.single.longestGapMs;
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  process.stderr.write(
    `single-cell upgrade: downtime ${result.single.downtimeMs} ms (synup), longest write gap ${result.single.longestGapMs} ms, ${result.single.failedWrites} failed writes, ${result.single.lostAcked} acknowledged writes lost\n` +
      `mirrored upgrade:    longest write gap ${result.mirrored.longestGapMs} ms (${(result.ratio * 100).toFixed(1)}% of the single-cell gap), ${result.mirrored.failedWrites} failed writes, ` +
      `${result.mirrored.lostAckedOnNewLeader} of ${result.mirrored.acked} acknowledged writes missing on the new leader, ${result.mirrored.lostAckedOnOldLeader} on its mirror; whole deployment ${deployMs} ms\n`,
  );
} finally {
  for (const adapter of started) await adapter.stop({ timeoutMs: 10_000 }).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
