import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync, mkdtempSync } from 'node:fs';
import { lockFileFor } from '../src/runner/lock.js';
import { createSimCell, SIM_CELL_JS } from './sim/index.js';
import { repoRoot, synup } from './helpers.js';

let work: string;
let cell: string;

/**
 * Every path under the work dir (links not followed), files with size and mtime: "nothing changed on disk" is
 * before = after (a lock file taken and released again leaves no trace). lock.mdb's mtime is left out: any LMDB reader (synup reading cell:info, Synapse's own backup tool)
 * takes a reader slot in it; its size and every data file are compared.
 */
function snapshot(dir: string, rel = ''): string[] {
  const lines: string[] = [];
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const child = path.join(rel, entry.name);
    const st = lstatSync(path.join(dir, child));
    lines.push(entry.isDirectory() ? `${child}/` : `${child} ${st.size} ${entry.name === 'lock.mdb' ? '' : st.mtimeMs}`);
    if (entry.isDirectory()) lines.push(...snapshot(dir, child));
  }
  return lines;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'synup-bad-'));
  cell = path.join(work, 'cortex00');
  await createSimCell(cell, { version: '2.180.0', seed: 50 });
  mkdirSync(path.join(work, 'not-a-cell'));
  writeFileSync(path.join(work, 'a-file'), 'x');
  symlinkSync('/etc', path.join(work, 'link-out'));
  mkdirSync(path.join(work, 'state', 'locks'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(work, 'state-is-a-file'), '');
  mkdirSync(path.join(work, 'full'));
  writeFileSync(path.join(work, 'full', 'keep'), 'x');
  mkdirSync(path.join(work, 'bad-config'));
  writeFileSync(path.join(work, 'bad-config', 'unknown-key.yaml'), 'cell: {dri: x}\n');
  writeFileSync(path.join(work, 'bad-config', 'bad-type.yaml'), 'health: {port: https}\n');
  writeFileSync(path.join(work, 'bad-config', 'broken.yaml'), 'cell: [\n');
  writeFileSync(path.join(work, 'bad-config', 'bad-duration.yaml'), 'backup: {maxAge: soon}\n');
  writeFileSync(
    path.join(work, 'synup.yaml'),
    [
      'cell: {dir: ./cortex00}',
      `changelog: ${JSON.stringify(path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst'))}`,
      'state: {dir: ./state}',
      `service: {process: {command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SIM_CELL_JS)}, '{dir}', --version, '{version}']}}`,
      '',
    ].join('\n'),
  );
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Case = [name: string, args: string[], code: 2 | 3, message: RegExp, setup?: () => void];

const cases: Case[] = [
  ['unknown config key', ['-c', 'bad-config/unknown-key.yaml', 'upgrade', '--to', '2.181.0', '-y'], 2, /cell: unknown key "dri"/],
  ['config value of the wrong type', ['-c', 'bad-config/bad-type.yaml', 'status'], 2, /health\.port: .*number/i],
  ['config that is not YAML', ['-c', 'bad-config/broken.yaml', 'status'], 2, /is not valid YAML/],
  ['config duration that is not one', ['-c', 'bad-config/bad-duration.yaml', 'history'], 2, /backup\.maxAge: expected a duration/],
  ['--config that does not exist', ['-c', 'nope.yaml', 'history'], 2, /cannot read config .*nope\.yaml: ENOENT/],
  ['malformed target version', ['upgrade', '--to', '2.181', '-y'], 2, /"2\.181" is not a version/],
  ['unknown target version', ['upgrade', '--to', '2.181.7', '-y'], 2, /--to 2\.181\.7 is not a release .* nearest known: 2\.181\.0 and 2\.182\.0/],
  ['target equal to the current version', ['upgrade', '--to', '2.180.0', '-y'], 2, /nothing to upgrade/],
  ['target below the current version', ['upgrade', '--to', '2.179.0', '-y'], 3, /refusing to downgrade from 2\.180\.0 to 2\.179\.0/],
  ['no target', ['upgrade', '-y'], 2, /required option '--to <version>'/],
  ['cell dir /', ['upgrade', '--dir', '/', '--to', '2.181.0', '-y'], 3, /refusing to treat \/ as a cell dir: it is the filesystem root/],
  ['empty cell dir', ['upgrade', '--dir', '', '--to', '2.181.0', '-y'], 2, /no cell dir given/],
  ['cell dir ..', ['upgrade', '--dir', '..', '--to', '2.181.0', '-y'], 3, /is not a Synapse cell dir: it has no cell\.guid/],
  ['the home dir', ['upgrade', '--dir', os.homedir(), '--to', '2.181.0', '-y'], 3, /it is the home dir/],
  ['a dir without cell.guid', ['upgrade', '--dir', 'not-a-cell', '--to', '2.181.0', '-y'], 3, /not-a-cell is not a Synapse cell dir/],
  ['a cell dir that does not exist', ['upgrade', '--dir', 'missing', '--to', '2.181.0', '-y'], 2, /cell dir .*missing does not exist/],
  ['a file as cell dir', ['upgrade', '--dir', 'a-file', '--to', '2.181.0', '-y'], 2, /a-file is not a directory/],
  ['a symlink pointing outside', ['upgrade', '--dir', 'link-out', '--to', '2.181.0', '-y'], 3, /\/etc is not a Synapse cell dir/],
  ['no confirmation without a terminal', ['upgrade', '--to', '2.181.0', '--backup'], 2, /refusing to act without confirmation/],
  ['unknown preflight check to ignore', ['upgrade', '--to', '2.181.0', '-y', '--ignore-preflight', 'free-spcae'], 2, /unknown check "free-spcae"; known: data-version/],
  ['no backup dir configured (refused before any downtime)', ['upgrade', '--to', '2.181.0', '-y'], 3, /no backup dir configured/],
  ['a concurrent run', ['upgrade', '--to', '2.181.0', '-y'], 3, /is locked by synup upgrade \(pid \d+/, () => lock(process.pid)],
  ['a stale lock', ['upgrade', '--to', '2.181.0', '-y'], 3, /stale lock .* is no longer running/, () => lock(2 ** 22 + 12345)],
  ['a state dir that is a file', ['upgrade', '--to', '2.181.0', '-y'], 2, /cannot use .*state-is-a-file.* as a synup state dir: it \(or a parent\) is not a directory/, () => undefined],
  ['an unknown plan format', ['plan', '--to', '2.181.0', '--dir', 'cortex00', '--format', 'pdf'], 2, /argument 'pdf' is invalid/],
  ['a missing changelog', ['plan', '--from', '2.180.0', '--to', '2.181.0', '--changelog', 'missing.rst'], 2, /cannot read changelog .*missing\.rst: ENOENT/],
  ['backup of a dir that is not a cell', ['backup', 'a-file', 'out'], 2, /a-file/],
  ['verify of a backup that does not exist', ['verify', 'no-such-backup'], 2, /no-such-backup/],
  ['restore from a dir that is not a backup', ['restore', 'cortex00', 'full'], 3, /cannot restore from .*cortex00/],
  ['prune with a bad duration', ['prune', '--older-than', 'soon'], 2, /--older-than: expected a duration like 7d/],
  ['rollback with no runs', ['rollback', '-y'], 2, /no synup run of .*cortex00 in the journal/],
  ['rehearse from a missing backup', ['rehearse', '--backup', 'missing', '--to', '2.181.0'], 3, /cannot rehearse from .*missing/],
  ['doctor on a dir without cell.guid', ['doctor', '--dir', 'not-a-cell'], 3, /not-a-cell is not a Synapse cell dir/],
  ['backup --jobs 0', ['backup', 'cortex00', 'out', '--jobs', '0'], 2, /--jobs must be a whole number ≥ 1/],
  ['an unknown command', ['upgarde', '--to', '2.181.0'], 2, /unknown command 'upgarde'/],
];

function lock(pid: number): void {
  writeFileSync(lockFileFor(path.join(work, 'state'), cell), JSON.stringify({ pid, host: os.hostname(), runId: 'other', command: 'upgrade', since: new Date().toISOString() }));
}

describe(`bad input: ${cases.length} cases, each a clear error, exit 2 or 3, nothing changed on disk`, () => {
  it.each(cases)('%s', async (name, args, code, message, setup) => {
    setup?.();
    const env: Record<string, string> = name === 'a state dir that is a file' ? { SYNUP_STATE_DIR: path.join(work, 'state-is-a-file') } : {};
    const before = snapshot(work);
    const result = await synup(args, { cwd: work, env });
    expect(result.exitCode, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    expect(snapshot(work)).toEqual(before);
    if (setup) rmSync(lockFileFor(path.join(work, 'state'), cell), { force: true });
  });
});
