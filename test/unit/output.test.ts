import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/units.js';

describe('formatDuration: the largest unit and the next, zeros left out', () => {
  it.each([
    [850, '850 ms'],
    [12_500, '12.5 s'],
    [119_000, '119.0 s'],
    [125_000, '2 min 5 s'],
    [3_600_000, '1 h'],
    [3_599_600, '1 h'],
    [3_660_000, '1 h 1 min'],
    [3_605_000, '1 h'],
    [86_400_000, '1 d'],
    [2 * 86_400_000 + 3 * 3_600_000 + 59_000, '2 d 3 h'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
