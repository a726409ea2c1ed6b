#!/usr/bin/env node
// The one-command demo (README): a simulated Synapse cell at an older version with data, a verified backup, a
// printable runbook, the guided upgrade across releases with migrations, then an upgrade that fails (injected fault)
// and is rolled back, and the history. Real LMDB files, real processes, real HTTPS on loopback.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { createSimCell, freePort, SIM_CELL_JS } from '../test/sim/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const synupBin = path.join(root, 'bin', 'synup.js');
const FROM = '2.180.0';
const GOOD = '2.182.0';
const BAD = '2.183.0';

const work = mkdtempSync(path.join(os.tmpdir(), 'synup-demo-'));
const cellDir = path.join(work, 'cortex00');
const outDir = process.env.SYNUP_DEMO_OUTPUT ?? path.join(root, 'demo-output');
mkdirSync(outDir, { recursive: true });
const runbook = path.join(outDir, `runbook-${FROM}-to-${GOOD}.html`);
const port = await freePort();

const banner = (text) => process.stderr.write(`\n\u001b[1m== ${text}\u001b[22m\n`);
async function synup(args, options = {}) {
  process.stderr.write(`$ synup ${args.join(' ')}\n`);
  const result = await execa(process.execPath, [synupBin, ...args], {
    cwd: work,
    stdio: ['ignore', 'inherit', 'inherit'],
    reject: false,
    env: options.env ?? {},
  });
  if (!(options.expect ?? [0]).includes(result.exitCode)) {
    throw new Error(`synup ${args[0]} exited ${result.exitCode} (expected ${(options.expect ?? [0]).join(' or ')})`);
  }
  return result;
}

let adapter;
try {
  banner(`A simulated Cortex at ${FROM} with 20 000 nodes in ${cellDir}`);
  await createSimCell(cellDir, { version: FROM, seed: 20_000 });
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {name: cortex00, dir: ./cortex00}',
      `changelog: ${JSON.stringify(path.join(root, 'changelogs', 'sim-CHANGELOG.rst'))}`,
      'state: {dir: ./state}',
      'backup: {dir: ./backups, maxAge: 1h}',
      'service:',
      '  adapter: process',
      '  stopTimeout: 10s',
      `  process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}', --port, '{port}']}`,
      `health: {port: ${port}, startTimeout: 20s}`,
      '',
    ].join('\n'),
  );
  const { loadConfig } = await import('../dist/config/load.js');
  const { createAdapter } = await import('../dist/service/index.js');
  const { config } = loadConfig({ cwd: work });
  adapter = createAdapter(config, { cellDir, stateDir: path.join(work, 'state'), cwd: work });
  await adapter.start(FROM);
  await synup(['status']);

  banner('What the upgrade will do (and a printable runbook)');
  await synup(['plan', '--dir', cellDir, '--to', GOOD]);
  await synup(['plan', '--dir', cellDir, '--to', GOOD, '--format', 'html', '-o', runbook]);

  banner('A compacted, verified backup (live, no downtime)');
  await synup(['inspect', cellDir]);
  await synup(['backup', cellDir]);

  banner(`The guided upgrade ${FROM} → ${GOOD}`);
  await synup(['upgrade', '--to', GOOD, '-y']);

  banner(`An upgrade to ${BAD} whose first boot dies in the middle of a migration: automatic rollback`);
  await synup(['backup', cellDir]);
  await synup(['upgrade', '--to', BAD, '-y'], { expect: [4], env: { SYN_SIM_FAULT: `die-mid-migration@${BAD}` } });
  await synup(['status']);

  banner('The audit trail');
  await synup(['history']);
  process.stderr.write(`\nRunbook: ${runbook}\n`);
} finally {
  if (adapter) await adapter.stop({ timeoutMs: 5000 }).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
