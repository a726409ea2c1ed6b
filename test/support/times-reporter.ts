// Prints the ten test files that took longest (wall time and CPU time, from test/support/file-times.ts) after every
// run, and writes every file's times to test-times.json, so that the next slow test is seen when it lands.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Reporter } from 'vitest/reporters';

interface FileTimes { file: string; wallMs: number; cpuMs: number }

const seconds = (ms: number) => (ms / 1000).toFixed(1);

export default class TimesReporter implements Reporter {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'synup-test-times-'));

  constructor() {
    // Inherited by the workers, which start after the reporters are made.
    process.env.SYNUP_TEST_TIMES_DIR = this.dir;
  }

  onTestRunEnd(): void {
    const times: FileTimes[] = readdirSync(this.dir).map((f) => JSON.parse(readFileSync(path.join(this.dir, f), 'utf8')) as FileTimes);
    rmSync(this.dir, { recursive: true, force: true });
    if (times.length === 0) return;
    times.sort((a, b) => b.wallMs - a.wallMs);
    writeFileSync('test-times.json', JSON.stringify(times, null, 2) + '\n');
    const total = times.reduce((sum, t) => sum + t.cpuMs, 0);
    const lines = times.slice(0, 10).map((t) => `| ${t.file} | ${seconds(t.wallMs)} | ${seconds(t.cpuMs)} |`);
    process.stderr.write(`\nslowest test files (of ${times.length}; CPU ${seconds(total)} s in all; every file in test-times.json):\n| file | wall s | CPU s |\n|---|---|---|\n${lines.join('\n')}\n`);
  }
}
