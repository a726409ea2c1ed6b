// Per test file: wall time and CPU time (user + system of the worker and of every child it waited for: the CLI, sims,
// the fakes), from /proc/self/stat around the file. The times reporter (test/support/times-reporter.ts) collects them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

const dir = process.env.SYNUP_TEST_TIMES_DIR;

/** utime + stime + cutime + cstime of this process, in ms (fields 14–17 of /proc/self/stat, in clock ticks of 10 ms). */
function cpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks) * 10, 0);
}

if (dir) {
  let startedAt = 0;
  let cpuAtStart = 0;
  beforeAll(() => {
    startedAt = performance.now();
    cpuAtStart = cpuMs();
  });
  afterAll(() => {
    const file = path.relative(process.cwd(), expect.getState().testPath ?? 'unknown');
    mkdirSync(dir, { recursive: true });
    const record = { file, wallMs: Math.round(performance.now() - startedAt), cpuMs: cpuMs() - cpuAtStart };
    writeFileSync(path.join(dir, `${process.pid}-${file.replace(/[^\w.-]/g, '_')}.json`), JSON.stringify(record));
  });
}
