import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../sim/index.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const newestBackup = (h: Harness) => path.join(h.backupsDir, readdirSync(h.backupsDir).sort().at(-1)!);

describe('synup rehearse', () => {
  it('boots the target on a scratch restore, reports JUnit/Markdown/JSON, feeds plan and --require-rehearsal', async () => {
    harness = await startHarness({ version: '2.180.0' });
    const backup = newestBackup(harness);
    const refused = await harness.run(['upgrade', '--to', '2.182.0', '-y', '--require-rehearsal']);
    expect(refused.exitCode).toBe(3);
    expect(refused.stderr).toMatch(/no passing rehearsal of 2\.180\.0 → 2\.182\.0/);

    const port = await freePort();
    const result = await harness.run(['rehearse', '--backup', backup, '--to', '2.182.0', '--port', String(port), '--report', 'r.xml', '--summary', 'r.md', '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({ ok: true, from: '2.180.0', to: '2.182.0', migrations: 2 });
    expect(json.cases.map((c: { name: string }) => c.name)).toEqual(['restore', 'start', 'wait-migrations', 'confirm', 'stop']);
    expect(json.migrationMs).toBeGreaterThan(0);
    const xml = readFileSync(path.join(harness.work, 'r.xml'), 'utf8');
    expect(xml).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>/);
    expect(xml).toMatch(/<testsuite name="upgrade 2\.180\.0 → 2\.182\.0" tests="5" failures="0"/);
    expect(xml.match(/<testcase /g)).toHaveLength(5);
    expect(readFileSync(path.join(harness.work, 'r.md'), 'utf8')).toMatch(/# Upgrade rehearsal 2\.180\.0 → 2\.182\.0: PASSED/);
    // The scratch copy is gone, the production cell untouched.
    expect(readdirSync(path.join(harness.stateDir, 'rehearsals'))).toEqual([]);
    expect(await harness.version()).toBe('2.180.0');

    const plan = JSON.parse((await harness.run(['plan', '--dir', harness.cellDir, '--to', '2.182.0', '--json'])).stdout);
    expect(plan.estimate).toMatchObject({ basis: 'rehearsal' });
    expect(plan.estimate.bootSeconds).toBeCloseTo(json.migrationMs / 1000, 3);
    const upgraded = await harness.run(['upgrade', '--to', '2.182.0', '-y', '--require-rehearsal']);
    expect(upgraded.exitCode, upgraded.stderr).toBe(0);
  });

  it('fails with a JUnit failure when the target never becomes active, and still cleans up', async () => {
    harness = await startHarness({ version: '2.180.0', extraYaml: '' });
    const backup = newestBackup(harness);
    const port = await freePort();
    const result = await harness.run(['rehearse', '--backup', backup, '--to', '2.181.0', '--port', String(port), '--report', 'r.xml'], {
      SYN_SIM_FAULT: 'crash-on-boot@2.181.0',
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/Rehearsal 2\.180\.0 → 2\.181\.0 FAILED/);
    const xml = readFileSync(path.join(harness.work, 'r.xml'), 'utf8');
    expect(xml).toMatch(/failures="1"/);
    expect(xml).toMatch(/<failure message="[^"]*crash on boot/);
    expect(existsSync(path.join(harness.stateDir, 'rehearsals')) ? readdirSync(path.join(harness.stateDir, 'rehearsals')) : []).toEqual([]);
  });

  it('refuses an incomplete backup', async () => {
    harness = await startHarness({ version: '2.180.0', backup: false });
    const result = await harness.run(['rehearse', '--backup', harness.work, '--to', '2.182.0']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/cannot rehearse from .*: /);
  });
});

describe('the runbook of a configured cell', () => {
  it('lists the exact commands each step runs with the adapter, and the manual rollback', async () => {
    harness = await startHarness({ version: '2.180.0', backup: false });
    const md = await harness.run(['plan', '--dir', harness.cellDir, '--to', '2.182.0', '--format', 'md']);
    expect(md.exitCode, md.stderr).toBe(0);
    expect(md.stdout).toMatch(/# Synapse upgrade of cortex00: 2\.180\.0 → 2\.182\.0 \(process adapter\)/);
    expect(md.stdout).toMatch(/Would run: .*cell\.js .*--version 2\.182\.0/);
    expect(md.stdout).toMatch(/## Rollback[\s\S]*mv .*cortex00\.synup-pre-<run> .*cortex00/);
  });
});
