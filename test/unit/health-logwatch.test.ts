import { describe, expect, it } from 'vitest';
import { classifyLogLine, modelMigrationMs, type LogEvent } from '../../src/health/logwatch.js';
import { watchLog } from '../support/helpers.js';

/** The real Cortex 2.239 → 2.250 first boot, in order (DESIGN.md), with Synapse's default log format. */
const SYNAPSE_BOOT = [
  '2025-01-10 10:00:01,100 [WARNING] Migrating Drive Slabs [drive.py:_migrateV1:MainThread:MainProcess]',
  '2025-01-10 10:00:03,200 [WARNING] ...Drive migration complete! [drive.py:_migrateV1:MainThread:MainProcess]',
  '2025-01-10 10:00:03,300 [WARNING] Building user email index [cell.py:_initCellStorage:MainThread:MainProcess]',
  '2025-01-10 10:00:03,900 [WARNING] ...complete! [cell.py:_initCellStorage:MainThread:MainProcess]',
  '2025-01-10 10:00:04,000 [WARNING] beginning model migration -> (0, 2, 36) [migrate.py:revCoreLayers:MainThread:MainProcess]',
  '2025-01-10 10:00:05,000 [INFO] https listening: 4443 [cell.py:addHttpsPort:MainThread:MainProcess]',
  '2025-01-10 10:00:05,100 [INFO] cell is active [cell.py:_setActive:MainThread:MainProcess]',
  '2025-01-10 10:00:08,700 [WARNING] ...model migrations complete! [migrate.py:revCoreLayers:MainThread:MainProcess]',
];

async function* lines(list: string[]): AsyncGenerator<string> {
  for (const line of list) yield line;
}

const kinds = (list: string[]) => list.map((l) => classifyLogLine(l)?.kind ?? null);

describe('classifyLogLine', () => {
  it('recognises every stage of a real Cortex first boot', () => {
    expect(kinds(SYNAPSE_BOOT)).toEqual([
      'storage-migration-begin',
      'storage-migration-complete',
      'storage-migration-begin',
      'storage-migration-complete',
      'model-migration-begin',
      'listening',
      'other',
      'model-migration-complete',
    ]);
  });

  it('takes the model revision and the port from the lines', () => {
    expect(classifyLogLine(SYNAPSE_BOOT[4]!)).toEqual<LogEvent>({ kind: 'model-migration-begin', message: 'beginning model migration -> (0, 2, 36)', modelVersion: '0.2.36', at: Date.parse('2025-01-10T10:00:04.000Z') });
    expect(classifyLogLine(SYNAPSE_BOOT[5]!)).toMatchObject({ kind: 'listening', port: 4443 });
  });

  it('reads bare lines (journalctl -o cat, compose --no-log-prefix), ISO-stamped lines and structured JSON logs', () => {
    expect(kinds([
      'beginning model migration -> (0, 2, 31)',
      '2025-01-10T10:00:05.123Z [sim] https listening: 36021',
      '{"message": "...model migrations complete!", "level": "WARNING", "time": "2025-01-10 10:00:08,700"}',
      '2025-01-10T10:00:05+00:00 [INFO] Migrating Drive Slabs',
    ])).toEqual(['model-migration-begin', 'listening', 'model-migration-complete', 'storage-migration-begin']);
  });

  it('flags BadVersion and tracebacks', () => {
    expect(kinds([
      'synapse.exc.BadVersion: Cell version regression (2.250.0) is not allowed! Stored version: 2.250.0, current version: 2.239.0',
      '2025-01-10 10:00:01,100 [ERROR] Traceback (most recent call last):',
      'Traceback (most recent call last):',
    ])).toEqual(['bad-version', 'traceback', 'traceback']);
  });

  it('null for blank lines, other for the rest; never throws on odd input', () => {
    expect(classifyLogLine('   ')).toBeNull();
    expect(classifyLogLine('{not json')?.kind).toBe('other');
    expect(classifyLogLine('{"message": 42}')?.kind).toBe('other');
    expect(classifyLogLine('completely unrelated')?.kind).toBe('other');
  });
});

describe('the boot state machine over a whole log', () => {
  it('a real Cortex boot ends migrated only after the model migration completes, not at "active"', async () => {
    const seen: string[] = [];
    const state = await watchLog(lines(SYNAPSE_BOOT), { onEvent: (event, s) => seen.push(`${event.kind}:${s.migrated}`) });
    expect(state).toEqual({
      storageBegun: 2,
      storageCompleted: 2,
      modelVersions: ['0.2.36'],
      model: 'complete',
      modelBeganAt: Date.parse('2025-01-10T10:00:04.000Z'),
      modelCompletedAt: Date.parse('2025-01-10T10:00:08.700Z'),
      listening: true,
      migrated: true,
      failure: null,
      tracebacks: 0,
      ended: 'migrated',
    });
    expect(modelMigrationMs(state)).toBe(4700); // the boot's per-node part, by the log's own stamps
    expect(seen).toContain('listening:false');
    expect(seen.at(-1)).toBe('model-migration-complete:true');
  });

  it('without migrations, listening is migrated', async () => {
    const state = await watchLog(lines(['https listening: 4443', 'never read']));
    expect(state).toMatchObject({ migrated: true, ended: 'migrated', model: 'none' });
    expect(modelMigrationMs(state)).toBeNull(); // unstamped lines and no model migration: nothing measured
  });

  it('when the plan expects a model migration, waits for it even if its first line comes after the listener', async () => {
    const boot = ['https listening: 4443', 'cell is active (leader)', 'beginning model migration -> (0, 2, 31)', '...model migrations complete!'];
    const early = await watchLog(lines(boot.slice(0, 2)), { expectModelMigration: true });
    expect(early).toMatchObject({ migrated: false, ended: 'log-ended', listening: true });
    const full = await watchLog(lines(boot), { expectModelMigration: true });
    expect(full).toMatchObject({ migrated: true, ended: 'migrated', modelVersions: ['0.2.31'] });
  });

  it('ends failed on BadVersion, with the message; a traceback alone is not a failure (Synapse logs non-fatal ones)', async () => {
    const state = await watchLog(lines(['Migrating Drive Slabs', '[ERROR] Dmon query exited: x', 'Traceback (most recent call last):', 'synapse.exc.NoSuchForm: No form named x', 'https listening: 4443']));
    expect(state).toMatchObject({ ended: 'migrated', failure: null, tracebacks: 1, migrated: true, listening: true, storageBegun: 1 });
    const bad = await watchLog(lines(['synapse.exc.BadVersion: Cell version regression']));
    expect(bad).toMatchObject({ ended: 'failed', failure: expect.stringContaining('BadVersion') });
  });

  it('terminal control sequences are ignored: compose 2.26 starts every line with ESC[2K, even with --ansi never (issue 20)', () => {
    const esc = SYNAPSE_BOOT.map((l) => `\x1b[2K${l}`);
    expect(kinds(esc)).toEqual(kinds(SYNAPSE_BOOT));
    expect(classifyLogLine('\x1b[2K\x1b[36mbeginning model migration -> (0, 2, 36)\x1b[0m')).toMatchObject({ kind: 'model-migration-begin', modelVersion: '0.2.36' });
    expect(classifyLogLine('\x1b[2K')).toBeNull();
  });

  it('a log that ends mid-migration is not migrated', async () => {
    const state = await watchLog(lines(SYNAPSE_BOOT.slice(0, 6)));
    expect(state).toMatchObject({ ended: 'log-ended', migrated: false, model: 'running', listening: true });
  });
});
