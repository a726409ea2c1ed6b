import { SynupError } from '../errors.js';
import { readRecord, writeRecord } from '../records.js';

/** What synup records about an instance it started or adopted: the pid file is JSON, written temp + fsync + rename. */
export interface PidRecord {
  pid: number;
  /** The version synup started; null for an adopted instance whose version synup did not choose. */
  version: string | null;
  startedAt: string;
  /** /proc start time of the pid, so a reused pid is not mistaken for the service. */
  startTicks: number | null;
  /** The instance's log; null for an adopted instance whose output is not a file synup can read. */
  logFile: string | null;
  /** Size of the log when this instance started: its own output begins here. */
  logOffset: number;
  stoppedAt?: string;
  /** Set when synup adopted an instance something else started (see findRunningInstance). */
  adopted?: { at: string; argv: string[]; pgid: number | null; groupStartTicks: number | null };
}

export function readPidRecord(file: string): PidRecord | null {
  const record = readRecord<Partial<PidRecord>>(file, (message) => {
    throw new SynupError('failed', `pid file ${file} is not synup's JSON record: ${message}`, {
      hint: 'point service.process.pidFile at a file only synup writes',
    });
  });
  if (record === null) return null;
  if (!Number.isInteger(record.pid) || (typeof record.version !== 'string' && !(record.adopted && record.version === null))) {
    throw new SynupError('failed', `pid file ${file} lacks pid/version: it was not written by synup`, { hint: 'point service.process.pidFile at a file only synup writes' });
  }
  return record as PidRecord;
}

export function writePidRecord(file: string, record: PidRecord): void {
  writeRecord(file, record, 0o644);
}
