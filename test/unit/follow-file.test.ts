// The service log read back by `synup logs -n N`: the last lines of a file, bounded memory, from where -f goes on.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { followFile, lastLines } from '../../src/service/follow-file.js';
import { tempDir } from '../support/helpers.js';

describe('lastLines', () => {
  it('the last N complete lines; a partial last line is left to the follower, from the returned end', async () => {
    const file = path.join(tempDir(), 'svc.log');
    writeFileSync(file, 'one\ntwo\nthree\npart');
    expect(lastLines(file, 2)).toEqual({ lines: ['two', 'three'], end: 14 });
    expect(lastLines(file, 10).lines).toEqual(['one', 'two', 'three']);
    expect(lastLines(file, 0)).toEqual({ lines: [], end: 14 });

    const { end } = lastLines(file, 0);
    appendFileSync(file, 'ial\nfour\n');
    const controller = new AbortController();
    const followed: string[] = [];
    for await (const line of followFile(file, { from: end, signal: controller.signal, pollMs: 10 })) {
      followed.push(line);
      if (followed.length === 2) controller.abort();
    }
    expect(followed).toEqual(['partial', 'four']);
  });

  it('reads at most the last MiB of a big log (its first, cut line dropped); a missing file has no lines', () => {
    const file = path.join(tempDir(), 'big.log');
    const line = 'x'.repeat(999);
    writeFileSync(file, `${line}\n`.repeat(3000) + 'last\n');
    const { lines, end } = lastLines(file, 5000);
    expect(lines.length).toBe(1049); // 1 MiB = 'last' + 1048 whole lines + a cut one
    expect(lines.at(-1)).toBe('last');
    expect(lines.slice(0, -1).every((l) => l === line)).toBe(true);
    expect(end).toBe(3000 * 1000 + 5);
    expect(lastLines(path.join(tempDir(), 'nope.log'), 3)).toEqual({ lines: [], end: 0 });
  });
});
