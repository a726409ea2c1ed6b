// Issue 21, hygiene items (4, 9, 10, 12, 13, 14, 15): each test here failed on the code before its fix.
import { lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
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
    const started = Date.now();
    const { exitCode, stderr } = await synup(['deploy', 'plan'], { cwd: work, timeout: 30_000 });
    const took = Date.now() - started;
    expect(exitCode, stderr).toBe(2);
    expect(stderr).toMatch(/services\.\d+ \(mirror0\): mirrorOf "nobody" names no service of this deployment/);
    expect(stderr).toMatch(/known: svc000000, .* \(\d+ in all\)$/m);
    expect(took).toBeLessThan(10_000);
    // Without that line, every service shares one cell dir: refused at the second service, before the third's config.
    writeFileSync(path.join(work, 'deployment.yaml'), lines.slice(0, -1).join('\n') + '\n');
    const dup = await synup(['deploy', 'plan'], { cwd: work, timeout: 30_000 });
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
    const started = Date.now();
    const { exitCode, stderr, stdout } = await synup(['deploy', 'discover'], { cwd: work, timeout: 20_000 });
    expect(exitCode, stderr).toBe(1);
    expect(stderr).toMatch(/^synup: asking AHA failed \(.*\): exit 3: x{100}/m);
    expect(stderr + stdout).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(10_000);
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
