// `synup volume-job <op>` (hidden): what a Kubernetes Job runs inside the cell's volume, through the real CLI on a
// sim cell. Every outcome is one JSON result line on stdout and synup's exit code.
import { existsSync, renameSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defragVolume } from '../../src/volume/defrag.js';
import { synup, tempDir } from '../support/helpers.js';
import { createSimCell, inspectSimCell } from '../sim/index.js';
import { fileDigests } from '../sim/testing.js';

async function cell() {
  const dir = path.join(tempDir('synup-volume-job-'), 'storage');
  await createSimCell(dir, { version: '2.180.0', seed: 200 });
  return dir;
}

const job = (cellDir: string | undefined, args: string[]) => synup(['volume-job', ...args], { env: cellDir ? { SYNUP_CELL_DIR: cellDir } : {} });
const result = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as { synupVolumeJob: number; op: string; ok: boolean; result?: Record<string, unknown>; error?: { code: string; message: string } };

describe('synup volume-job', () => {
  it('bad inputs: one result line, exit 2, nothing written in the cell', async () => {
    const dir = await cell();
    const before = fileDigests(dir);
    const cases: [string | undefined, string[], string][] = [
      [dir, ['compact'], 'unknown volume-job op "compact" (one of cell-info, backup, backup-gate, defrag, undo-defrag)'],
      [undefined, ['cell-info'], 'SYNUP_CELL_DIR must be the absolute path where the cell volume is mounted'],
      ['storage', ['cell-info'], 'SYNUP_CELL_DIR must be the absolute path where the cell volume is mounted'],
      [dir, ['defrag'], '--run <id> is required for defrag and undo-defrag'],
      [dir, ['defrag', '--run', '../escape'], 'run id "../escape" is not a plain name (letters, digits, _ . -)'],
      [dir, ['backup'], 'SYNUP_BACKUP_DIR must be the absolute path where the backup volume is mounted'],
      [dir, ['backup-gate', '--max-age', 'soon'], '--max-age "soon" is not a duration (e.g. 24h)'],
    ];
    for (const [cellDir, args, message] of cases) {
      const run = await job(cellDir, args);
      expect({ args, exitCode: run.exitCode, line: result(run.stdout) }).toEqual({ args, exitCode: 2, line: { synupVolumeJob: 1, op: args[0], ok: false, error: expect.objectContaining({ code: 'usage', message }) } });
      expect(run.stderr.trim()).toBe(`synup: ${message}`);
    }
    expect(fileDigests(dir)).toEqual(before);
  });

  it('undo-defrag of a run that never defragmented: refused (exit 3)', async () => {
    const dir = await cell();
    const run = await job(dir, ['undo-defrag', '--run', 'r1']);
    expect(run.exitCode).toBe(3);
    expect(result(run.stdout).error).toEqual({ code: 'refused', message: `${dir}/.synup-defrag-r1 has no synup defrag state: nothing of this run to undo`, hint: 'check the run id (synup history)' });
  });

  it('defrag interrupted half-way through the swap: the same op again finishes it; the data is the same', async () => {
    const dir = await cell();
    const data = await inspectSimCell(dir);
    const first = await job(dir, ['defrag', '--run', 'r2']);
    expect(first.exitCode).toBe(0);
    const swapped = result(first.stdout).result!.swapped as string[];
    // Put the state back to "killed after cell.yaml and before layers and slabs were swapped".
    const work = path.join(dir, '.synup-defrag-r2');
    for (const entry of ['layers', 'slabs']) {
      renameSync(path.join(dir, entry), path.join(work, 'new', entry));
      renameSync(path.join(work, 'pre', entry), path.join(dir, entry));
    }
    const state = JSON.parse(readFileSync(path.join(work, 'state.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(work, 'state.json'), JSON.stringify({ ...state, phase: 'verified' }));

    const again = await job(dir, ['defrag', '--run', 'r2']);
    expect(again.exitCode).toBe(0);
    expect(result(again.stdout).result!.swapped).toEqual(swapped);
    expect(await inspectSimCell(dir)).toEqual(data);
    // A defrag once undone is not redone over the rollback's data.
    expect((await job(dir, ['undo-defrag', '--run', 'r2'])).exitCode).toBe(0);
    const redo = await job(dir, ['defrag', '--run', 'r2']);
    expect(redo.exitCode).toBe(3);
    expect(result(redo.stdout).error?.message).toBe(`the defrag of run r2 was undone: its work dir ${work} is the rollback's`);
    expect(await inspectSimCell(dir)).toEqual(data);
  });

  it('a defrag that stopped before its copy was verified swapped nothing: the rollback\'s undo removes synup\'s work dir and restores nothing', async () => {
    const dir = await cell();
    const before = fileDigests(dir);
    const controller = new AbortController();
    controller.abort();
    await expect(defragVolume({ cellDir: dir, runId: 'r3', signal: controller.signal })).rejects.toThrow();
    expect(existsSync(path.join(dir, '.synup-defrag-r3', 'owner.json'))).toBe(true);
    const undo = await job(dir, ['undo-defrag', '--run', 'r3']);
    expect({ exitCode: undo.exitCode, result: result(undo.stdout).result }).toEqual({ exitCode: 0, result: { restored: [] } });
    expect(existsSync(path.join(dir, '.synup-defrag-r3'))).toBe(false);
    expect(fileDigests(dir)).toEqual(before);
  });
});
