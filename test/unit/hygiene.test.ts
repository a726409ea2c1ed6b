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
