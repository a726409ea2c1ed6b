import { stripControl } from '../service/log-stamp.js';

/**
 * Recognises what a booting Synapse service says in its log (DESIGN.md, "The real Synapse, observed"):
 * storage migrations run before the HTTPS listener is up, model migrations run after it — so "active" is not
 * "migrated" until `...model migrations complete!`.
 */
export type LogEventKind =
  | 'storage-migration-begin'
  | 'storage-migration-complete'
  | 'model-migration-begin'
  | 'model-migration-complete'
  | 'listening'
  | 'bad-version'
  | 'traceback'
  | 'other';

export interface LogEvent {
  kind: LogEventKind;
  /** The message without Synapse's timestamp/level prefix and `[file.py:func:…]` suffix. */
  message: string;
  /** model-migration-begin: the model revision, "0.2.36" from `-> (0, 2, 36)`. */
  modelVersion?: string;
  /** listening: the HTTPS port. */
  port?: number;
  /**
   * When the line was written, from Synapse's own stamp (`2024-05-01 12:00:00,123`, read as UTC: only differences
   * between two lines of one log are used), or set by the reader when it saw the line; absent when neither.
   */
  at?: number;
}

/** Synapse's stamp at the start of a line, as ms (the clock's zone is not written, so UTC is assumed). */
const SYNAPSE_STAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3})\b/;

/**
 * `2024-05-01 12:00:00,123 [WARNING] text [cortex.py:_migrate:MainThread:MainProcess]` → `text` (also ISO stamps and
 * any one `[tag]`, e.g. the sim's); structured (JSON) logs carry `message`.
 */
function messageOf(line: string): string {
  const trimmed = stripControl(line).trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = JSON.parse(trimmed) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message.trim();
    } catch {
      // not a structured log line
    }
  }
  return trimmed
    .replace(/^\d{4}-\d\d-\d\d[ T][\d:.,]+(Z|[+-]\d\d:?\d\d)?\s+/, '')
    .replace(/^\[[\w.-]+\]\s+/, '')
    .replace(/\s+\[[\w.-]+\.py:[^\]]*\]$/, '');
}

const rules: { kind: LogEventKind; test: RegExp }[] = [
  { kind: 'bad-version', test: /\bBadVersion\b/ },
  { kind: 'traceback', test: /^Traceback \(most recent call last\):/ },
  { kind: 'model-migration-begin', test: /^beginning model migration\b/i },
  { kind: 'model-migration-complete', test: /model migrations? complete/i },
  { kind: 'listening', test: /^https listening:\s*\d+/i },
  { kind: 'storage-migration-complete', test: /^\.\.\..*\bcomplete!?$/i },
  { kind: 'storage-migration-begin', test: /^(Migrating\b|Building\b.*\bindex\b|(Beginning|Starting)\b.*\bmigration\b)/i },
];

/** One log line → what it means for an upgrade; null for a blank line. Terminal control sequences are ignored. Never throws. */
export function classifyLogLine(line: string): LogEvent | null {
  if (stripControl(line).trim() === '') return null;
  const message = messageOf(line);
  const kind = rules.find((rule) => rule.test.test(message))?.kind ?? 'other';
  const event: LogEvent = { kind, message };
  const stamp = SYNAPSE_STAMP.exec(stripControl(line).trim());
  if (stamp) event.at = Date.parse(`${stamp[1]}T${stamp[2]}.${stamp[3]}Z`);
  if (kind === 'model-migration-begin') {
    const tuple = /->\s*\(([\d,\s]+)\)/.exec(message);
    if (tuple) event.modelVersion = tuple[1]!.split(',').map((n) => n.trim()).filter(Boolean).join('.');
  }
  if (kind === 'listening') event.port = Number(/(\d+)/.exec(message)![1]);
  return event;
}

/** How long the model migrations of a boot took by its log (ms), or null when the log did not show both ends. */
export function modelMigrationMs(state: MigrationState): number | null {
  const { modelBeganAt: began, modelCompletedAt: completed } = state;
  return began !== null && completed !== null && completed >= began ? completed - began : null;
}

/** Where a boot stands, as far as its log tells. */
export interface MigrationState {
  /** Storage migrations begun and completed (they run before the listener). */
  storageBegun: number;
  storageCompleted: number;
  /** Model revisions whose migration began, in order ("0.2.36"…). */
  modelVersions: string[];
  model: 'none' | 'running' | 'complete';
  /** When the first model migration began and the last completed (LogEvent.at): the boot's per-node part. */
  modelBeganAt: number | null;
  modelCompletedAt: number | null;
  listening: boolean;
  /** Listening, and no model migration running or (when expected) still to come: active AND migrated. */
  migrated: boolean;
  /** BadVersion: the boot failed. */
  failure: string | null;
  /** Tracebacks logged: Synapse logs many non-fatal ones (logger.exception), so they do not fail a boot. */
  tracebacks: number;
}

export const newMigrationState = (): MigrationState => ({
  storageBegun: 0,
  storageCompleted: 0,
  modelVersions: [],
  model: 'none',
  modelBeganAt: null,
  modelCompletedAt: null,
  listening: false,
  migrated: false,
  failure: null,
  tracebacks: 0,
});

/**
 * The state machine of a booting service's log, one event at a time (the wait-migrations step runs it on the
 * followed log). `expectModelMigration`: the plan says this boot migrates the data model, so listening alone is not
 * migrated (the `beginning model migration` line may come before or after the listener). A traceback alone is not a
 * failure; BadVersion is.
 */
export function observe(state: MigrationState, event: LogEvent, options: { expectModelMigration?: boolean } = {}): MigrationState {
  if (event.kind === 'storage-migration-begin') state.storageBegun++;
  if (event.kind === 'storage-migration-complete') state.storageCompleted++;
  if (event.kind === 'model-migration-begin') {
    state.model = 'running';
    state.modelBeganAt ??= event.at ?? null;
    if (event.modelVersion) state.modelVersions.push(event.modelVersion);
  }
  if (event.kind === 'model-migration-complete') {
    state.model = 'complete';
    state.modelCompletedAt = event.at ?? null;
  }
  if (event.kind === 'listening') state.listening = true;
  if (event.kind === 'traceback') state.tracebacks++;
  if (event.kind === 'bad-version') state.failure ??= event.message;
  const modelDone = state.model === 'complete' || (state.model === 'none' && !options.expectModelMigration);
  state.migrated = state.listening && modelDone && state.failure === null;
  return state;
}
