import { describe, expect, it } from 'vitest';
import { advance, journalLine, markOf, reached, splitStamp, stripControl } from '../../src/service/log-stamp.js';

/** The log sources' own stamps (issue 20): how synup knows a tool's stream was read up to a moment. */
describe('log stamps', () => {
  it('docker --timestamps (fixed nanoseconds), kubectl --timestamps (trimmed), any zone: one sortable UTC form', () => {
    expect(splitStamp('\x1b[2K2026-12-06T13:00:00.120000000Z https listening: 4443')).toEqual({ stamp: '2026-12-06T13:00:00.120000000Z', text: 'https listening: 4443' });
    expect(splitStamp('2026-12-06T13:00:00.12Z x').stamp).toBe('2026-12-06T13:00:00.120000000Z');
    expect(splitStamp('2026-12-06T15:00:00.5+02:00 x').stamp).toBe('2026-12-06T13:00:00.500000000Z');
    expect(splitStamp('2026-12-06T13:00:01Z').stamp).toBe('2026-12-06T13:00:01.000000000Z');
    // Synapse's own stamp is not the source's: no 'T', so the line is kept whole
    expect(splitStamp('2026-12-06 13:00:00,123 [INFO] x')).toEqual({ stamp: null, text: '2026-12-06 13:00:00,123 [INFO] x' });
  });

  it('journalctl -o json: MESSAGE (also as bytes) and __REALTIME_TIMESTAMP in microseconds', () => {
    expect(journalLine(JSON.stringify({ __REALTIME_TIMESTAMP: '1733490000123456', MESSAGE: 'beginning model migration' }))).toEqual({ stamp: '2024-12-06T13:00:00.123456000Z', text: 'beginning model migration' });
    expect(journalLine(JSON.stringify({ __REALTIME_TIMESTAMP: '1733490000000001', MESSAGE: [104, 105] }))?.text).toBe('hi');
    expect(journalLine('not json')).toBeNull();
  });

  it('a follower has reached a bounded read once it handed out its last line, counting lines that share a stamp', () => {
    const lines = ['a', 'b', 'b', 'c', 'c'].map((s) => ({ text: s, stamp: `2026-12-06T13:00:00.00000000${s === 'a' ? 1 : s === 'b' ? 2 : 3}Z` }));
    const mark = markOf(lines.slice(0, 4));
    expect(mark).toEqual({ stamp: '2026-12-06T13:00:00.000000003Z', count: 1 });
    let read = null;
    for (const line of lines.slice(0, 3)) read = advance(read, line.stamp);
    expect(reached(read, mark)).toBe(false);
    read = advance(read, lines[3]!.stamp);
    expect(reached(read, mark)).toBe(true);
    expect(reached(advance(null, lines[1]!.stamp), markOf(lines.slice(0, 3)))).toBe(false);
    expect(reached(null, null)).toBe(true);
    expect(stripControl('\x1b]0;title\x07\x1b[1;31mred\x1b[0m\r')).toBe('red');
  });
});
