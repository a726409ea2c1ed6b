import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/helpers.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|js|mjs)$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map((rel) => path.join(dir, String(rel)));
}

describe('no child process through a shell', () => {
  const files = [...sourceFiles(path.join(repoRoot, 'src')), ...sourceFiles(path.join(repoRoot, 'test', 'sim')), ...sourceFiles(path.join(repoRoot, 'scripts'))];

  it('scans every source file', () => {
    expect(files.length).toBeGreaterThan(40);
  });

  it.each([
    ['shell: true', /shell\s*:\s*(true|['"`])/],
    ['execaCommand (a string command line)', /\bexecaCommand(Sync)?\s*\(/],
    ['execa template strings ($`…`, execa`…`)', /import\s*\{[^}]*(?<![\w$])\$(?![\w$])[^}]*\}\s*from\s*['"]execa['"]|(?:^|[\s(=;,!])(?:\$|execa)`/m],
    ['child_process exec/execSync (a shell)', /\bexec(Sync)?\s*\(\s*['"`]/],
    ['execa with a single string holding spaces', /execa\(\s*['"`][^'"`]*\s[^'"`]*['"`]\s*[,)]/],
  ])('%s appears nowhere', (_name, pattern) => {
    const offenders = files.filter((f) => pattern.test(readFileSync(f, 'utf8'))).map((f) => path.relative(repoRoot, f));
    expect(offenders).toEqual([]);
  });
});

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

describe('secrets and permissions', () => {
  it('never writes the API password to logs, journal, JSON, history or runbooks; state is private', async () => {
    const secret = 'S3cr3t-pa55-' + Math.random().toString(36).slice(2);
    harness = await startHarness({ version: '2.180.0', extraYaml: 'upgrade: {freeSpaceMargin: 0.2}', processEnv: { SYN_SIM_PASSWORD: secret } });
    const env = { SYNUP_HEALTH_PASSWORD: secret };
    const outputs = [
      await harness.run(['upgrade', '--to', '2.181.0', '-y', '--json'], env),
      await harness.run(['history', '--json'], env),
      await harness.run(['status', '--json'], env),
      await harness.run(['plan', '--to', '2.182.0', '--dir', harness.cellDir, '--format', 'md'], env),
      await harness.run(['upgrade', '--to', '2.182.0', '--dry-run', '--json'], env),
    ];
    expect(outputs[0]!.exitCode, outputs[0]!.stderr).toBe(0);
    for (const o of outputs) {
      expect(o.stdout).not.toContain(secret);
      expect(o.stderr).not.toContain(secret);
    }
    // The password really was used: the sim refuses /api/v1/core/info without it, and confirm read the version.
    expect(outputs[0]!.stdout).toMatch(/"confirmedVersion"|version 2\.181\.0 confirmed|"state":"completed"/);
    for (const file of walk(harness.stateDir).filter((f) => statSync(f).isFile())) {
      expect(readFileSync(file).includes(secret), file).toBe(false);
    }
    for (const file of walk(harness.backupsDir).filter((f) => statSync(f).isFile() && !f.endsWith('.mdb'))) {
      expect(readFileSync(file).includes(secret), file).toBe(false);
    }
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(harness.stateDir)).toBe(0o700);
    expect(mode(path.join(harness.stateDir, 'journal.lmdb'))).toBe(0o700);
    for (const f of readdirSync(path.join(harness.stateDir, 'journal.lmdb'))) expect(mode(path.join(harness.stateDir, 'journal.lmdb', f))).toBe(0o600);
  });
});
