import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Journal, newRunId, type RunRecord } from '../../src/runner/journal.js';
import { acquireLock, cellLockFile } from '../../src/safety/lock.js';
import { tempDir } from '../support/helpers.js';

function record(id: string, cellDir: string): RunRecord {
  return {
    id,
    cellDir,
    cellName: 'c',
    from: '2.180.0',
    to: '2.181.0',
    plan: { from: '2.180.0', to: '2.181.0', releases: [], migrations: [], warnings: [], steps: [] } as unknown as RunRecord['plan'],
    startedAt: new Date().toISOString(),
    outcome: 'running',
    steps: {},
    data: {},
    owned: [],
  };
}

describe('journal', () => {
  it('keeps runs across reopen, private to the owner', async () => {
    const state = tempDir();
    const journal = Journal.open(state);
    const id = newRunId();
    journal.create(record(id, '/data/c'));
    journal.update(id, (run) => {
      run.steps.preflight = { state: 'completed' };
      run.data.origIno = 42;
    });
    await journal.close();
    const again = Journal.open(state);
    expect(again.latest('/data/c')?.steps.preflight?.state).toBe('completed');
    expect(again.get(id)?.data.origIno).toBe(42);
    expect(again.list({ cellDir: '/other' })).toEqual([]);
    await again.close();
    expect(statSync(state).mode & 0o777).toBe(0o700);
    const dir = path.join(state, 'journal.lmdb');
    for (const file of readdirSync(dir)) expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
  });

  it('an update that throws leaves the record as it was', async () => {
    const journal = Journal.open(tempDir());
    const id = newRunId();
    journal.create(record(id, '/data/c'));
    expect(() =>
      journal.update(id, (run) => {
        run.outcome = 'done';
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(journal.get(id)?.outcome).toBe('running');
    await journal.close();
  });
});

describe('cell lock', () => {
  it('refuses a second run while the first holds the lock', () => {
    const cell = path.join(tempDir(), 'c');
    const file = cellLockFile(cell);
    const lock = acquireLock(file, cell, { runId: 'a', command: 'upgrade', stateDir: '/state/a' });
    expect(() => acquireLock(file, cell, { runId: 'b', command: 'upgrade' })).toThrow(/is locked by synup upgrade \(pid \d+, run a, state dir \/state\/a/);
    lock.release();
    acquireLock(file, cell, { runId: 'b', command: 'upgrade' }).release();
    expect(existsSync(file)).toBe(false);
  });

  it('lives beside the cell dir: the same file for every config and state dir', () => {
    expect(cellLockFile('/data/cortex00')).toBe('/data/.cortex00.synup-lock');
  });

  it('reports a stale lock of a dead process and takes it over only with force (or to resume that run)', async () => {
    const parent = tempDir();
    const cell = path.join(parent, 'c');
    const dead = await execa(process.execPath, ['-e', 'console.log(process.pid)']);
    const file = cellLockFile(cell);
    acquireLock(file, cell, { runId: 'x', command: 'upgrade' }).release();
    const stale = { pid: Number(dead.stdout), host: (await import('node:os')).hostname(), runId: 'old', command: 'upgrade', since: new Date().toISOString(), stateDir: '/state/a' };
    writeFileSync(file, JSON.stringify(stale));
    expect(() => acquireLock(file, cell, { runId: 'new', command: 'upgrade' })).toThrow(/stale lock .* no longer running/);
    expect(JSON.parse((await import('node:fs')).readFileSync(file, 'utf8')).runId).toBe('old');
    acquireLock(file, cell, { runId: 'old', command: 'resume' }).release();
    writeFileSync(file, JSON.stringify(stale));
    acquireLock(file, cell, { runId: 'new', command: 'upgrade' }, true).release();
    // Taken over twice: the stale locks are gone, not renamed aside to pile up.
    expect(readdirSync(parent)).toEqual([]);
  });
});
