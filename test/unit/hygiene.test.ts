// Issue 21, hygiene items (4, 9, 10, 12, 13, 14, 15): each test here failed on the code before its fix.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { realChangelog, synup, tempDir } from '../support/helpers.js';

/** What is at a path, without following a symlink. */
function kindOf(file: string): string {
  const st = lstatSync(file);
  return st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char device' : st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
}

describe('item 4: -o, --report and --summary write only to a regular file or a new path', () => {
  const planArgs = ['plan', '--from', '2.180.0', '--to', '2.181.0', '--changelog', realChangelog];

  it('refuses a FIFO, a symlink and a device (exit 2), and leaves each as it was', async () => {
    const work = tempDir();
    const fifo = path.join(work, 'plan.fifo');
    await execa('mkfifo', [fifo]);
    const target = path.join(work, 'target.md');
    writeFileSync(target, 'keep me\n');
    const link = path.join(work, 'plan.md');
    symlinkSync(target, link);
    for (const [file, what] of [[fifo, /is a FIFO/], [link, /is a symlink/], ['/dev/null', /is a device/]] as const) {
      const { exitCode, stderr } = await synup([...planArgs, '-o', file], { cwd: work });
      expect(exitCode, stderr).toBe(2);
      expect(stderr).toMatch(new RegExp(`^synup: -o ${file.replace(/[.]/g, '\\.')}: ${what.source}`, 'm'));
      expect(stderr).toMatch(/fix: .*(regular file|new path)/);
    }
    expect(kindOf(fifo)).toBe('fifo');
    expect(kindOf(link)).toBe('symlink');
    expect(readlinkSync(link)).toBe(target);
    expect(readFileSync(target, 'utf8')).toBe('keep me\n');
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('rehearse --report/--summary and deploy plan -o / deploy rehearse --report refuse the same way, before any work', async () => {
    const work = tempDir();
    const fifo = path.join(work, 'out.fifo');
    await execa('mkfifo', [fifo]);
    const cases: [string[], string][] = [
      [['rehearse', '--backup', path.join(work, 'no-backup'), '--to', '2.181.0', '--report', fifo], '--report'],
      [['rehearse', '--backup', path.join(work, 'no-backup'), '--to', '2.181.0', '--summary', fifo], '--summary'],
      [['deploy', 'plan', '-f', path.join(work, 'none.yaml'), '-o', fifo], '-o'],
      [['deploy', 'rehearse', '-f', path.join(work, 'none.yaml'), '--report', fifo], '--report'],
    ];
    for (const [args, flag] of cases) {
      const { exitCode, stderr } = await synup(args, { cwd: work });
      expect(exitCode, stderr).toBe(2);
      expect(stderr).toContain(`synup: ${flag} ${fifo}: is a FIFO`);
    }
    expect(kindOf(fifo)).toBe('fifo');
  });

  it('still writes a new path and replaces a regular file', async () => {
    const work = tempDir();
    mkdirSync(path.join(work, 'out'));
    const fresh = path.join(work, 'out', 'plan.md');
    expect((await synup([...planArgs, '--format', 'md', '-o', fresh], { cwd: work })).exitCode).toBe(0);
    expect(readFileSync(fresh, 'utf8')).toContain('2.181.0');
    writeFileSync(fresh, 'old');
    expect((await synup([...planArgs, '--format', 'md', '-o', fresh], { cwd: work })).exitCode).toBe(0);
    expect(kindOf(fresh)).toBe('file');
    expect(readFileSync(fresh, 'utf8')).toContain('2.181.0');
  });
});

describe('item 12: config and deployment files are regular files, size-capped while reading, checked cheaply first', () => {
  it('-c /dev/zero, -c <FIFO>, -f <FIFO> and -f /dev/zero are refused at once (exit 2), naming what they are', async () => {
    const work = tempDir();
    const fifo = path.join(work, 'synup.fifo');
    await execa('mkfifo', [fifo]);
    const cases: [string[], RegExp][] = [
      [['-c', '/dev/zero', 'status'], /^synup: config \/dev\/zero is a device, not a regular file$/m],
      [['-c', fifo, 'status'], /^synup: config .*synup\.fifo is a FIFO, not a regular file$/m],
      [['deploy', 'plan', '-f', fifo], /^synup: deployment file .*synup\.fifo is a FIFO, not a regular file$/m],
      [['deploy', 'status', '-f', '/dev/zero'], /^synup: deployment file \/dev\/zero is a device, not a regular file$/m],
    ];
    for (const [args, message] of cases) {
      const { exitCode, stderr } = await synup(args, { cwd: work, timeout: 15_000 });
      expect(exitCode, stderr).toBe(2);
      expect(stderr).toMatch(message);
    }
    expect(kindOf(fifo)).toBe('fifo');
  });

  it('a config or deployment file over 1 MiB is refused without being read whole', async () => {
    const work = tempDir();
    writeFileSync(path.join(work, 'big.yaml'), `# ${'x'.repeat(2 * 2 ** 20)}\ncell: {dir: ./c}\n`);
    const config = await synup(['-c', 'big.yaml', 'status'], { cwd: work });
    expect(config.exitCode, config.stderr).toBe(2);
    expect(config.stderr).toMatch(/^synup: config .*big\.yaml is over 1 MiB: too big for a synup config$/m);
    const deployment = await synup(['deploy', 'plan', '-f', 'big.yaml'], { cwd: work });
    expect(deployment.exitCode, deployment.stderr).toBe(2);
    expect(deployment.stderr).toMatch(/^synup: deployment file .*big\.yaml is over 1 MiB: too big for a deployment file$/m);
  });

  it("a 1 MB deployment file with a structural error is refused before any service's synup.yaml is read", async () => {
    const work = tempDir();
    writeFileSync(path.join(work, 'svc.yaml'), 'cell: {dir: ./c}\nhealth: {port: 4443}\n');
    // svc000002 names a config that does not exist: reading configs before the structure would report it first.
    const lines = ['services:'];
    for (let i = 0, size = 0; size < 1_000_000 - 200; i++) {
      size += lines[lines.push(`  - {name: svc${String(i).padStart(6, '0')}, kind: axon, config: ${i === 2 ? 'missing' : 'svc'}.yaml}`) - 1]!.length + 1;
    }
    lines.push('  - {name: mirror0, kind: axon, config: svc.yaml, mirrorOf: nobody}');
    writeFileSync(path.join(work, 'deployment.yaml'), lines.join('\n') + '\n');
    const { exitCode, stderr } = await synup(['deploy', 'plan'], { cwd: work });
    expect(exitCode, stderr).toBe(2);
    expect(stderr).toMatch(/services\.\d+ \(mirror0\): mirrorOf "nobody" names no service of this deployment/);
    expect(stderr).toMatch(/known: svc000000, .* \(\d+ in all\)$/m);
    // Without that line, every service shares one cell dir: refused at the second service, before the third's config.
    writeFileSync(path.join(work, 'deployment.yaml'), lines.slice(0, -1).join('\n') + '\n');
    const dup = await synup(['deploy', 'plan'], { cwd: work });
    expect(dup.exitCode, dup.stderr).toBe(2);
    expect(dup.stderr).toMatch(/svc000001 and svc000000 have the same cell dir/);
  });
});

describe("item 13: a tool's output is bounded, and passwords are taken out of it in linear time", () => {
  /** A deployment whose aha.command is `script` run by node (one service; discover only reads the file and asks AHA). */
  function ahaDeployment(script: string): string {
    const work = tempDir();
    writeFileSync(path.join(work, 'axon00.yaml'), 'cell: {dir: ./axon00}\n');
    writeFileSync(
      path.join(work, 'deployment.yaml'),
      JSON.stringify({ services: [{ name: 'axon00', kind: 'axon', config: 'axon00.yaml' }], aha: { url: 'ssl://root:s3cret@127.0.0.1:27492/', command: [process.execPath, '-e', script], timeout: '4s' } }),
    );
    return work;
  }

  it('a failing aha.command whose last line is 300 KB long is reported at once, its password taken out', async () => {
    const work = ahaDeployment('process.stderr.write("x".repeat(300000) + " NoSuchPath: ssl://root:s3cret@127.0.0.1:27492/ refused\\n"); process.exit(3)');
    const { exitCode, stderr, stdout } = await synup(['deploy', 'discover'], { cwd: work });
    expect(exitCode, stderr).toBe(1);
    // Its exit, not the 4 s timeout (which a quadratic scrub of the line ran into), is what is reported.
    expect(stderr).toMatch(/^synup: asking AHA failed \(.*\): exit 3: x{100}/m);
    expect(stderr + stdout).not.toContain('s3cret');
  });

  it('an aha.command printing 64 MiB is stopped at the bound (1 MiB of stderr), not read whole', async () => {
    const work = ahaDeployment('const chunk = "y".repeat(1 << 20); let n = 0; const more = () => { while (n < 64) { n++; if (!process.stderr.write(chunk)) return process.stderr.once("drain", more); } process.exit(1); }; more();');
    const { exitCode, stderr } = await synup(['deploy', 'discover'], { cwd: work, timeout: 20_000 });
    expect(exitCode, stderr).toBe(1);
    expect(stderr).toMatch(/^synup: asking AHA failed \(.*\): printed more than 1 MiB on stderr \(stopped\): y{100}/m);
    expect(stderr.length).toBeLessThan(4096);
  });
});

describe('item 13: every tool runner reads a bounded output (module)', () => {
  it('runTool stops a tool printing more than 16 MiB and says so; keepTail holds only the end of a stream', async () => {
    const { runTool } = await import('../../src/service/tool.js');
    const { keepTail } = await import('../../src/proc.js');
    const script = 'const chunk = "z".repeat(1 << 20); let n = 0; const more = () => { while (n < 40) { n++; if (!process.stdout.write(chunk)) return process.stdout.once("drain", more); } }; more();';
    await expect(runTool([process.execPath, '-e', script], { env: { PATH: process.env.PATH } })).rejects.toThrow(/-e .*` printed more than 16 MiB on stdout \(stopped\)$/);
    const child = execa(process.execPath, ['-e', 'for (let i = 0; i < 5000; i++) console.error("line " + i)'], { stderr: 'pipe', buffer: false });
    const tail = keepTail(child.stderr, 100);
    await child;
    expect(tail().length).toBeLessThanOrEqual(100);
    expect(tail().trim().split('\n').at(-1)).toBe('line 4999');
  });
});

/** The real CHANGELOG.rst with one release after its newest (what `changelog update --to 2.251.0` expects). */
const NEXT = '2.251.0';
const nextChangelog = readFileSync(realChangelog, 'utf8').replace('v2.250.0 - 2026-08-21\n', `v${NEXT} - 2026-09-01\n=====================\n\nv2.250.0 - 2026-08-21\n`);

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A loopback plain-http server (closed after the test): `handle` answers each request; `paths` lists what was asked. */
async function loopbackServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, port, paths };
}

describe('item 13: a failing copy tool is reported by the end of its stderr, not all of it', () => {
  it('mdb_copy printing 2000 lines then failing: one error line with its last three lines', async () => {
    const { createSimCell } = await import('../sim/index.js');
    const work = tempDir();
    const cell = path.join(work, 'cell');
    await createSimCell(cell, { version: '2.180.0', seed: 23 });
    const bin = path.join(work, 'bin');
    mkdirSync(bin);
    const script = '#!/bin/sh\ni=0; while [ $i -lt 2000 ]; do echo "noise $i" >&2; i=$((i+1)); done\necho "mdb_copy: MDB_INVALID: File is not an LMDB file" >&2\nexit 1\n';
    for (const tool of ['mdb_copy', 'mdb_stat']) writeFileSync(path.join(bin, tool), script, { mode: 0o755 });
    const { exitCode, stderr } = await synup(['backup', cell, path.join(work, 'bk'), '--engine', 'mdb_copy'], { cwd: work, env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(exitCode, stderr).toBe(1);
    expect(stderr).toMatch(/^synup: mdb_copy -c \S+ failed: noise 1998 \/ noise 1999 \/ mdb_copy: MDB_INVALID: File is not an LMDB file$/m);
    expect(stderr).not.toContain('noise 1997');
    expect(existsSync(path.join(work, 'bk'))).toBe(false);
  });
});

describe('item 14: changelog update checks every redirect hop, reports what it fetched, keeps the URL on body errors', () => {
  const update = (base: string, state: string, json = false) => synup(['changelog', 'update', '--to', NEXT, '--base-url', base, ...(json ? ['--json'] : [])], { env: { XDG_STATE_HOME: state }, timeout: 20_000 });
  const written = (state: string) => (existsSync(path.join(state, 'synup', 'changelogs')) ? readdirSync(path.join(state, 'synup', 'changelogs')) : []);

  it('a loopback redirect to plain http elsewhere ([::ffff:127.0.0.1], another host) is refused, exit 2, not fetched', async () => {
    const server = await loopbackServer((req, res) => {
      if (req.url!.startsWith('/mirror/')) return void res.end(nextChangelog);
      res.writeHead(302, { location: req.url!.includes('/v2.251.0/') ? `http://[::ffff:127.0.0.1]:${server.port}/mirror/CHANGELOG.rst` : '/' });
      res.end();
    });
    const state = tempDir();
    const { exitCode, stderr } = await update(server.base, state);
    expect(exitCode, stderr).toBe(2);
    expect(stderr).toMatch(new RegExp(`^synup: changelog http://127\\.0\\.0\\.1:${server.port}/v2\\.251\\.0/CHANGELOG\\.rst redirects to http://\\[::ffff:7f00:1\\]:${server.port}/mirror/CHANGELOG\\.rst: plain http is only fetched from loopback$`, 'm'));
    expect(server.paths).toEqual(['/v2.251.0/CHANGELOG.rst']);
    expect(written(state)).toEqual([]);
    const elsewhere = await loopbackServer((_req, res) => (res.writeHead(302, { location: 'http://changelog.example/CHANGELOG.rst' }), res.end()));
    const other = await update(elsewhere.base, state);
    expect(other.exitCode, other.stderr).toBe(2);
    expect(other.stderr).toMatch(/^synup: changelog http:\S+ redirects to http:\/\/changelog\.example\/CHANGELOG\.rst: plain http is only fetched from loopback$/m);
    expect(other.stderr).toContain('fix: use https://changelog.example/CHANGELOG.rst');
  });

  it('a loopback redirect within loopback is followed, and the URL really fetched is the one reported', async () => {
    const server = await loopbackServer((req, res) => {
      if (req.url === '/mirror/CHANGELOG.rst') return void res.end(nextChangelog);
      res.writeHead(301, { location: '/mirror/CHANGELOG.rst' });
      res.end();
    });
    const requested = `${server.base}/v${NEXT}/CHANGELOG.rst`;
    const json = await update(server.base, tempDir(), true);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ url: `${server.base}/mirror/CHANGELOG.rst`, requested });
    const text = await update(server.base, tempDir());
    expect(text.stderr).toContain(`Fetched ${server.base}/mirror/CHANGELOG.rst (redirected from ${requested}): `);
  });

  it('more than 5 redirects are refused', async () => {
    const server = await loopbackServer((req, res) => {
      res.writeHead(302, { location: `/hop${Number(/\d+$/.exec(req.url!)?.[0] ?? 0) + 1}` });
      res.end();
    });
    const { exitCode, stderr } = await update(server.base, tempDir());
    expect(exitCode, stderr).toBe(1);
    expect(stderr).toMatch(/^synup: cannot fetch changelog http:\S+\/v2\.251\.0\/CHANGELOG\.rst: more than 5 redirects \(stopped at http:\S+\/hop5\)$/m);
  });

  it('a body cut short keeps the URL and the hint', async () => {
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(nextChangelog.length) });
      res.write(nextChangelog.slice(0, 50_000), () => res.socket?.destroy());
    });
    const state = tempDir();
    const { exitCode, stderr } = await update(server.base, state);
    expect(exitCode, stderr).toBe(1);
    expect(stderr).toMatch(new RegExp(`^synup: cannot fetch changelog ${server.base.replace(/[.]/g, '\\.')}/v2\\.251\\.0/CHANGELOG\\.rst: the connection ended while reading the body \\(.+\\)$`, 'm'));
    expect(stderr).toMatch(/^ {2}fix: /m);
    expect(written(state)).toEqual([]);
  });

  it('an HTML page served with 200 is called an HTML page, not "truncated"', async () => {
    const html = `<!DOCTYPE html>\n<html><body><pre>\nv${NEXT} - 2026-09-01\n=====================\n</pre></body></html>`;
    const server = await loopbackServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    const { exitCode, stderr } = await update(server.base, tempDir());
    expect(exitCode, stderr).toBe(2);
    expect(stderr).not.toContain('truncated');
    expect(stderr).toMatch(/^synup: changelog http:\S+\/CHANGELOG\.rst is an HTML page, not a changelog file \(content-type text\/html/m);
    expect(stderr).toMatch(/fix: .*raw/);
  });
});

describe('item 15: no terminal control from outside text reaches the screen; duplicate release headers are warned about', () => {
  const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
  const crafted = [
    'v2.182.0 - 2024-03-02',
    '=====================',
    '',
    'Automatic Migrations',
    '--------------------',
    '- Migrated \x1b[2J\x1b[Hthe layer index.\x1b]0;pwned\x07 Done\x9b31m.',
    '',
    'v2.181.0 - 2024-03-01',
    '=====================',
    '',
    'Automatic Migrations',
    '--------------------',
    '- The first entry.',
    '',
    'v2.181.0 - 2024-02-28',
    '=====================',
    '',
    'Automatic Migrations',
    '--------------------',
    '- The duplicate entry.',
    '',
    'v2.180.0 - 2024-02-01',
    '=====================',
    '',
    '- Nothing.',
    '',
  ].join('\n');

  it('a crafted changelog prints no escape sequence or control character, in any format', async () => {
    const work = tempDir();
    const file = path.join(work, 'CHANGELOG.rst');
    writeFileSync(file, crafted);
    for (const format of ['text', 'md', 'html', 'json']) {
      const { exitCode, stdout, stderr } = await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', file, '--format', format], { cwd: work });
      expect(exitCode, stderr).toBe(0);
      expect(stdout + stderr).not.toMatch(CONTROL);
      expect(stdout + stderr).toContain('Migrated');
    }
    const json = JSON.parse((await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', file, '--json'], { cwd: work })).stdout);
    const text = json.migrations.find((m: { version: string }) => m.version === '2.182.0').text as string;
    expect(text).not.toMatch(CONTROL);
    expect(text).toMatch(/^Migrated �+the layer index\.� Done�\.$/);
  });

  it("printable keeps synup's own colours only when asked, and every other sequence becomes one U+FFFD (module)", async () => {
    const { printable } = await import('../../src/ui/output.js');
    expect(printable('\x1b[31mred\x1b[39m \x1b[2J\x1b]8;;http://x\x07link\x1b]8;;\x07 a\rb\r\nc\td\u202ee')).toBe('�red� ��link� a�b\r\nc\td�e');
    expect(printable('\x1b[31mred\x1b[39m \x1b[2J', true)).toBe('\x1b[31mred\x1b[39m �');
  });

  it('duplicate release headers: the plan warns, naming the version and which entry is used', async () => {
    const work = tempDir();
    const file = path.join(work, 'CHANGELOG.rst');
    writeFileSync(file, crafted);
    const text = await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', file], { cwd: work });
    expect(text.stderr).toMatch(/WARNING changelog .*CHANGELOG\.rst has 2 entries for 2\.181\.0 \(2024-03-01, 2024-02-28\): the first in the file is used/);
    const json = JSON.parse((await synup(['plan', '--from', '2.180.0', '--to', '2.182.0', '--changelog', file, '--json'], { cwd: work })).stdout);
    expect(json.warnings).toContainEqual(expect.stringMatching(/has 2 entries for 2\.181\.0/));
    expect(json.migrations.map((m: { text: string }) => m.text)).toContain('The first entry.');
  });

  it("a tool's stderr in an error, and a service log shown by `synup logs`, are printed without control characters", async () => {
    const work = tempDir();
    writeFileSync(path.join(work, 'axon00.yaml'), 'cell: {dir: ./axon00}\n');
    writeFileSync(
      path.join(work, 'deployment.yaml'),
      JSON.stringify({ services: [{ name: 'axon00', kind: 'axon', config: 'axon00.yaml' }], aha: { url: 'cell:///srv/aha/', command: [process.execPath, '-e', 'console.error("boom \\x1b[2J\\x1b]0;pwned\\x07 end"); process.exit(1)'] } }),
    );
    const aha = await synup(['deploy', 'discover'], { cwd: work });
    expect(aha.exitCode, aha.stderr).toBe(1);
    expect(aha.stderr).toMatch(/asking AHA failed .*: boom �+ end$/m);
    expect(aha.stderr).not.toMatch(CONTROL);

    const cell = path.join(work, 'cell');
    mkdirSync(cell);
    writeFileSync(path.join(cell, 'cell.guid'), '0123456789abcdef0123456789abcdef');
    const log = path.join(work, 'service.log');
    writeFileSync(log, 'line one\n\x1b[2J\x1b[Hcleared\x07\n');
    writeFileSync(path.join(work, 'synup.yaml'), `cell: {dir: ./cell}\nservice: {adapter: process, process: {command: [${JSON.stringify(process.execPath)}, '-e', '1'], logFile: ./service.log}}\n`);
    const logs = await synup(['logs', '-n', '5'], { cwd: work });
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^line one\n�+cleared�$/);
  });
});

describe('item 10: true sizes and states', () => {
  /** A bin dir holding fake `timedatectl`/`chronyc` scripts (`null`: absent); doctor runs with PATH set to it alone. */
  async function doctorNtp(tools: { timedatectl?: string; chronyc?: string }) {
    const bin = tempDir('synup-bin-');
    for (const [name, script] of Object.entries(tools)) writeFileSync(path.join(bin, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
    const { exitCode, stdout, stderr } = await synup(['doctor', '--json'], { cwd: tempDir(), env: { PATH: bin } });
    expect([0, 1], stderr).toContain(exitCode);
    return (JSON.parse(stdout).checks as { name: string; level: string; current: string }[]).find((c) => c.name === 'ntp');
  }

  it('doctor asks timedatectl, then chronyc, whether the clock is NTP-synchronised, else says unknown', async () => {
    expect(await doctorNtp({ timedatectl: 'echo no' })).toMatchObject({ level: 'warn', current: 'not synchronised (timedatectl: NTPSynchronized=no)' });
    expect(await doctorNtp({ timedatectl: 'echo yes' })).toMatchObject({ level: 'ok', current: 'synchronised (timedatectl)' });
    const chrony = 'printf "Reference ID    : C0A80001 (gw)\\nLeap status     : Normal\\n"';
    expect(await doctorNtp({ timedatectl: 'echo "System has not been booted with systemd as init system (PID 1)." >&2; exit 1', chronyc: chrony })).toMatchObject({ level: 'ok', current: 'synchronised (chronyc: Leap status Normal)' });
    expect(await doctorNtp({ chronyc: 'printf "Leap status     : Not synchronised\\n"' })).toMatchObject({ level: 'warn', current: 'not synchronised (chronyc: Leap status Not synchronised)' });
    expect(await doctorNtp({})).toMatchObject({ level: 'info', current: 'unknown: neither timedatectl nor chronyc answered' });
  });

  it('backup sums what sparse files really take on disk, not their apparent size', async () => {
    const { createSimCell } = await import('../sim/index.js');
    const work = tempDir();
    const cell = path.join(work, 'cell');
    await createSimCell(cell, { version: '2.180.0', seed: 21 });
    const layers = readdirSync(path.join(cell, 'layers'));
    const data = path.join(cell, 'layers', layers[0]!, 'layer_v2.lmdb', 'data.mdb');
    await execa('truncate', ['-s', '64M', data]); // a map-sized data.mdb: a hole, as Synapse's are
    const allocated = statSync(data).blocks * 512;
    expect(allocated).toBeLessThan(2 ** 20);
    const text = await synup(['backup', cell, path.join(work, 'bk')], { cwd: work });
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stderr).not.toMatch(/64\.\d MiB → [\d.]+ KiB (on disk|in )/);
    expect(text.stderr).toMatch(/layer_v2\.lmdb: [\d.]+ KiB → [\d.]+ KiB on disk \(file size 64\.0 MiB, sparse\) in /);
    expect(text.stderr).toMatch(/4 files: [\d.]+ KiB → [\d.]+ KiB on disk \(file sizes 64\.\d MiB → [\d.]+ KiB\) in /);
    const json = JSON.parse((await synup(['backup', cell, path.join(work, 'bk2'), '--json'], { cwd: work })).stdout);
    expect(json.diskBytesBefore).toBeLessThan(2 ** 20);
    expect(json.bytesBefore).toBeGreaterThan(64 * 2 ** 20);
    const layer = json.envs.find((e: { path: string }) => e.path.endsWith('layer_v2.lmdb'));
    expect(layer.diskBytesBefore).toBe(allocated);
    expect(layer.bytesBefore).toBe(64 * 2 ** 20);
  });
});

describe('item 10: inspect and restore --replace through a symlink to a dir act on the dir it names', () => {
  it('inspect <link> reads the linked cell; restore <backup> <link> --replace restores into the linked dir, the link kept', async () => {
    const { createSimCell } = await import('../sim/index.js');
    const work = tempDir();
    const cell = path.join(work, 'cell');
    await createSimCell(cell, { version: '2.180.0', seed: 22 });
    const link = path.join(work, 'cortex00');
    symlinkSync(cell, link);
    const inspect = await synup(['inspect', link, '--json'], { cwd: work });
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    expect(JSON.parse(inspect.stdout).envs.length).toBeGreaterThan(0);

    const backup = path.join(work, 'bk');
    expect((await synup(['backup', cell, backup], { cwd: work })).exitCode).toBe(0);
    writeFileSync(path.join(cell, 'marker'), 'the old data\n');
    const restore = await synup(['restore', backup, link, '--replace', '--json'], { cwd: work });
    expect(restore.exitCode, restore.stderr).toBe(0);
    const result = JSON.parse(restore.stdout);
    expect(result.targetDir).toBe(cell);
    expect(result.movedAside).toMatch(new RegExp(`^${cell}\\.synup-replaced-`));
    expect(kindOf(link)).toBe('symlink');
    expect(readlinkSync(link)).toBe(cell);
    expect(existsSync(path.join(cell, 'marker'))).toBe(false);
    expect(readFileSync(path.join(result.movedAside, 'marker'), 'utf8')).toBe('the old data\n');
  });

  it('restore onto a dangling symlink is refused, exit 2, the link untouched', async () => {
    const work = tempDir();
    const link = path.join(work, 'cortex00');
    symlinkSync(path.join(work, 'gone'), link);
    const { exitCode, stderr } = await synup(['restore', path.join(work, 'no-backup'), link, '--replace'], { cwd: work });
    expect(exitCode, stderr).toBe(2);
    expect(stderr).toMatch(/restore target .*cortex00 is a symlink to .*gone, which does not exist/);
    expect(kindOf(link)).toBe('symlink');
  });
});
