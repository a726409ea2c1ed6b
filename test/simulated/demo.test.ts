import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from '../support/helpers.js';

describe('the README demo (npm run demo)', () => {
  it('upgrades a sim cell, rolls back a failing upgrade, prints the history and leaves the runbook', async () => {
    const out = tempDir();
    const result = await execa(process.execPath, [path.join(repoRoot, 'scripts', 'demo.mjs')], {
      env: { CI: 'true', NO_COLOR: '1', SYNUP_DEMO_OUTPUT: out },
      reject: false,
      timeout: 180_000,
      stdin: 'ignore',
    });
    expect(result.exitCode, result.stderr.slice(-3000)).toBe(0);
    expect(result.stderr).toMatch(/Upgraded cortex00 2\.180\.0 → 2\.182\.0\. Downtime/);
    expect(result.stderr).toMatch(/Rolled back cortex00 to 2\.182\.0/);
    expect(result.stderr).toMatch(/\| 20\d{6}-\d{6}-[0-9a-f]{4} .* done .*\n.* rolled-back /);
    const runbook = path.join(out, 'runbook-2.180.0-to-2.182.0.html');
    expect(existsSync(runbook)).toBe(true);
    expect(readFileSync(runbook, 'utf8')).toMatch(/^<!doctype html>/);
  });
});
