// Issue 21 item 10: `synup adopt` on a service synup already manages (adopted before, or started by synup) says so,
// instead of "adopted" again. Real sim cells served by the process adapter.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSimServiceConfig } from '../support/upgrade-harness.js';
import { createSimCell, freePort, SIM_CELL_JS } from '../sim/index.js';
import { synup, tempDir } from '../support/helpers.js';

const byHand: ChildProcess[] = [];
afterEach(() => {
  for (const child of byHand.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

async function setup() {
  const work = tempDir('synup-adopt-again-');
  const cellDir = path.join(work, 'cortex00');
  const port = await freePort();
  await createSimCell(cellDir, { version: '2.180.0', seed: 210 });
  writeSimServiceConfig(work, { port, startTimeout: '20s' });
  const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true' } });
  return { work, cellDir, port, run };
}

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;

describe('item 10: adopt on a service synup already manages', () => {
  it('a second `adopt --json` of a cell started by hand says it is already managed, not adopted again', async () => {
    const t = await setup();
    const log = path.join(t.work, 'by-hand.log');
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [SIM_CELL_JS, t.cellDir, '--version', '2.180.0', '--port', String(t.port)], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    byHand.push(child);
    for (let i = 0; i < 200 && !/https listening/.test(readFileSync(log, 'utf8')); i++) await new Promise((resolve) => setTimeout(resolve, 100));

    const first = await t.run(['adopt', '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(json(first.stdout)).toMatchObject({ action: 'adopt', adopted: true, pid: child.pid });
    const second = await t.run(['adopt', '--json']);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(json(second.stdout)).toMatchObject({ action: 'adopt', adopted: false, alreadyManaged: true, pid: child.pid });
    const text = await t.run(['adopt']);
    expect(text.stderr).toMatch(new RegExp(`^nothing to adopt: synup already manages cortex00 \\(pid ${child.pid} adopted at `, 'm'));
  }, 60_000);

  it('`adopt` of a cell synup started says it is already managed', async () => {
    const t = await setup();
    try {
      const started = await t.run(['start', '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      const pid = json(started.stdout).pid;
      const adopt = await t.run(['adopt', '--json']);
      expect(adopt.exitCode, adopt.stderr).toBe(0);
      expect(json(adopt.stdout)).toMatchObject({ adopted: false, alreadyManaged: true, pid });
    } finally {
      await t.run(['stop']);
    }
  }, 60_000);
});
