import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync, mkdtempSync } from 'node:fs';
import { cellLockFile } from '../../src/safety/lock.js';
import { createSimCell, SIM_CELL_JS } from '../sim/index.js';
import { repoRoot, synup, synupInProcess } from '../support/helpers.js';

let work: string;
let cell: string;
/** A listener standing in for the live cell's HTTPS port (health.port) during the `rehearse --port` case. */
let live: net.Server;
const LIVE_PORT = 23101;

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
  writeFileSync(path.join(work, 'bad-config', 'host-with-scheme.yaml'), "health: {host: 'https://127.0.0.1'}\n");
  writeFileSync(path.join(work, 'bad-config', 'zero-stop-timeout.yaml'), 'service: {stopTimeout: 0}\n');
  writeFileSync(path.join(work, 'bad-config', 'name-with-slash.yaml'), "cell: {name: '../elsewhere/cortex00'}\n");
  // The sim changelog without the cell's own release (2.180.0).
  const simChangelog = readFileSync(path.join(repoRoot, 'changelogs', 'sim-CHANGELOG.rst'), 'utf8');
  writeFileSync(path.join(work, 'without-2.180.0.rst'), simChangelog.replace(/^v2\.180\.0 - [\s\S]*?(?=^v2\.179\.0)/m, ''));
  await execa('mkfifo', [path.join(work, 'a-fifo')]);
  const made = await synup(['backup', 'cortex00', 'a-backup'], { cwd: work });
  if (made.exitCode !== 0) throw new Error(made.stderr);
  live = net.createServer().listen(LIVE_PORT, '127.0.0.1');
  await new Promise((resolve) => live.once('listening', resolve));
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
afterAll(async () => {
  await new Promise((resolve) => live?.close(resolve));
  rmSync(work, { recursive: true, force: true });
});

type Case = [name: string, args: string[], code: 2 | 3, message: RegExp, setup?: () => void, env?: Record<string, string>];

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
  ['plan --json with --format md', ['--json', 'plan', '--to', '2.181.0', '--format', 'md'], 2, /--json and --format md ask for two different outputs/],
  ['plan -o into a missing dir', ['plan', '--to', '2.181.0', '-o', 'no-such-dir/plan.md'], 2, /-o .*no-such-dir\/plan\.md: the dir .*no-such-dir does not exist/],
  ['plan -o naming a dir', ['plan', '--to', '2.181.0', '-o', 'full'], 2, /-o .*full is a directory/],
  ['--changelog /dev/zero', ['plan', '--to', '2.181.0', '--changelog', '/dev/zero'], 2, /changelog \/dev\/zero is a device, not a regular file/],
  ['--changelog a FIFO (would block forever)', ['plan', '--to', '2.181.0', '--changelog', 'a-fifo'], 2, /changelog .*a-fifo is a FIFO, not a regular file/],
  ['--changelog a directory', ['plan', '--to', '2.181.0', '--changelog', 'full'], 2, /changelog .*full is a directory, not a regular file/],
  ['--changelog https:// without a host', ['plan', '--to', '2.181.0', '--changelog', 'https://'], 2, /changelog URL https:\/\/ is not a valid URL/],
  ['--changelog ftp://', ['plan', '--to', '2.181.0', '--changelog', 'ftp://example.com/CHANGELOG.rst'], 2, /unsupported URL scheme ftp/],
  ['--changelog file://', ['plan', '--to', '2.181.0', '--changelog', 'file:///etc/hosts'], 2, /file:\/\/ URLs are not read/],
  ['--changelog plain http off loopback', ['plan', '--to', '2.181.0', '--changelog', 'http://example.com/CHANGELOG.rst'], 2, /plain http is only fetched from loopback/],
  ['a cell version missing from the changelog', ['upgrade', '--to', '2.181.0', '-y', '--changelog', 'without-2.180.0.rst'], 2, /^synup: the version of .*cortex00 \(slabs\/cell\.lmdb\) 2\.180\.0 is not a release in .*without-2\.180\.0\.rst/m],
  ['inspect /', ['inspect', '/'], 3, /refusing to inspect \/: it is the filesystem root/],
  ['doctor --root that does not exist', ['doctor', '--root', '/nonexistent'], 2, /--root \/nonexistent has no proc\/sys/],
  ['-c with an empty path', ['-c', '', 'status'], 2, /--config was given an empty path/],
  ['health.host with a scheme', ['-c', 'bad-config/host-with-scheme.yaml', 'status'], 2, /health\.host: expected a host name or IP address .* without a scheme/],
  ['service.stopTimeout: 0', ['-c', 'bad-config/zero-stop-timeout.yaml', 'status'], 2, /service\.stopTimeout: expected a duration above zero/],
  ['cell.name with a /', ['-c', 'bad-config/name-with-slash.yaml', 'status'], 2, /cell\.name: expected a name .* without "\/"/],
  ['rehearse --port of a live service', ['rehearse', '--backup', 'a-backup', '--to', '2.181.0', '--port', String(LIVE_PORT)], 3, /port 23101 on 127\.0\.0\.1 is already in use/],
  ['rehearse --report into a missing dir', ['rehearse', '--backup', 'a-backup', '--to', '2.181.0', '--report', 'no-such-dir/r.xml'], 2, /--report .*: the dir .*no-such-dir does not exist/],
];

function lock(pid: number): void {
  writeFileSync(cellLockFile(cell), JSON.stringify({ pid, host: os.hostname(), runId: 'other', command: 'upgrade', since: new Date().toISOString() }));
}

describe(`bad input: ${cases.length} cases, each a clear error, exit 2 or 3, nothing changed on disk`, () => {
  // In the worker (the command's logic); the --json twin of each case below runs bin/synup.js as a real process.
  it.each(cases)('%s', async (name, args, code, message, setup, extraEnv) => {
    setup?.();
    const env: Record<string, string> = name === 'a state dir that is a file' ? { SYNUP_STATE_DIR: path.join(work, 'state-is-a-file') } : (extraEnv ?? {});
    const before = snapshot(work);
    const result = await synupInProcess(args, { cwd: work, env });
    expect(result.exitCode, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    expect(result.stderr.split('\n').filter((l) => l.startsWith('synup: '))).toHaveLength(1);
    expect(snapshot(work)).toEqual(before);
    if (setup) rmSync(cellLockFile(cell), { force: true });
  });

  it.each(cases)('%s, with --json: stdout is JSON lines, the last one the error', async (name, args, code, _message, setup, extraEnv) => {
    setup?.();
    const env: Record<string, string> = name === 'a state dir that is a file' ? { SYNUP_STATE_DIR: path.join(work, 'state-is-a-file') } : (extraEnv ?? {});
    const result = await synup(args[0] === '--json' ? args : ['--json', ...args], { cwd: work, env, timeout: 20_000 });
    expect(result.exitCode, result.stderr).toBe(code);
    const lines = result.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(lines.at(-1)).toMatchObject({ ok: false, error: { code: code === 2 ? 'usage' : 'refused', message: expect.any(String) } });
    if (setup) rmSync(cellLockFile(cell), { force: true });
  });
});

describe('--json: every output is JSON, parse errors, --version and --help included', () => {
  it.each([
    ['--version', ['--json', '--version'], 0, { version: expect.stringMatching(/^\d+\.\d+\.\d+/) }],
    ['--version before --json', ['--version', '--json'], 0, { version: expect.any(String) }],
    ['--help', ['--json', '--help'], 0, { help: expect.stringMatching(/Usage: synup/) }],
    ['a missing option argument', ['--json', 'upgrade', '--to'], 2, { ok: false, error: { code: 'usage', message: "option '--to <version>' argument missing" } }],
  ])('%s', async (_name, args, code, document) => {
    const result = await synup(args as string[], { cwd: work });
    expect(result.exitCode, result.stderr).toBe(code);
    expect(JSON.parse(result.stdout)).toMatchObject(document as object);
  });
});

describe('commands that only look change nothing', () => {
  it('prune --dry-run with no journal creates no state dir and takes no lock', async () => {
    const state = path.join(work, 'prune-state');
    const before = snapshot(work);
    const result = await synup(['prune', '--dry-run', '--older-than', '0s'], { cwd: work, env: { SYNUP_STATE_DIR: state } });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Nothing synup made is left to prune/);
    expect(snapshot(work)).toEqual(before);
  });

  it('prune --dry-run works while another run holds the lock, and leaves the lock as it was', async () => {
    lock(process.pid);
    try {
      const before = snapshot(work);
      const result = await synup(['prune', '--dry-run'], { cwd: work });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(snapshot(work)).toEqual(before);
    } finally {
      rmSync(cellLockFile(cell), { force: true });
    }
  });

  it('upgrade --help names the preflight checks --ignore-preflight accepts, not the steps', async () => {
    const result = await synup(['upgrade', '--help'], { cwd: work });
    const help = result.stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--ignore-preflight <checks> .*data-version, service-version, free-space, same-filesystem/);
    expect(help).not.toMatch(/cold-defrag/);
  });
});

/** Root with CAP_SYS_ADMIN can mount a read-only tmpfs: the only honest way to get EROFS (root ignores file modes). */
async function canMountReadOnly(): Promise<boolean> {
  const probe = mkdtempSync(path.join(os.tmpdir(), 'synup-ro-probe-'));
  try {
    const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', probe], { reject: false });
    if (mounted.exitCode !== 0) return false;
    await execa('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const readOnlyMounts = await canMountReadOnly();
if (!readOnlyMounts) console.warn('skipping read-only filesystem cases: mounting a read-only tmpfs needs root with CAP_SYS_ADMIN');

describe.skipIf(!readOnlyMounts)('a read-only filesystem (a real read-only tmpfs)', () => {
  let mnt: string;
  beforeAll(async () => {
    mnt = mkdtempSync(path.join(os.tmpdir(), 'synup-ro-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
    const made = await synup(['backup', cell, path.join(mnt, 'b')], { cwd: work });
    if (made.exitCode !== 0) throw new Error(made.stderr);
    await execa('mount', ['-o', 'remount,ro', mnt]);
  });
  afterAll(async () => {
    await execa('umount', [mnt], { reject: false });
    rmSync(mnt, { recursive: true, force: true });
  });

  it('backup.dir on it is refused before the copy (exit 3, one line, nothing written)', async () => {
    const before = snapshot(work);
    const result = await synup(['backup'], { cwd: work, env: { SYNUP_BACKUP_DIR: path.join(mnt, 'backups') } });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/^synup: cannot write the backup dir .*backups: .* is on a read-only filesystem \(EROFS\)$/m);
    expect(result.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    expect(snapshot(work)).toEqual(before);
    expect(readdirSync(mnt)).toEqual(['b']);
  });

  it('verify of a backup on it prints the result and says it was not recorded (exit 0, not a lost result)', async () => {
    const before = snapshot(mnt);
    const result = await synup(['verify', path.join(mnt, 'b')], { cwd: work });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^OK$/m);
    expect(result.stderr).toMatch(/not recorded in the backup: .*\/b is on a read-only filesystem \(EROFS\)/);
    const json = await synup(['--json', 'verify', path.join(mnt, 'b')], { cwd: work });
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, recorded: false, notRecorded: expect.stringMatching(/EROFS/) });
    expect(snapshot(mnt)).toEqual(before);
  });
});
