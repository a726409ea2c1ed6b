import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './fsutil.js';

/**
 * JSON record files, the one module for them (the run lock, the pid file, rehearsals.json, the partial-backup
 * marker): written whole by write-to-temp + fsync + rename, so a crash never leaves half a record; read back as null
 * when absent. A record that cannot be read or parsed (edited by hand, not synup's) goes to `unreadable`: null by
 * default, or the caller's refusal.
 */
export function readRecord<T>(file: string, unreadable: (message: string) => T | null = () => null): T | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return unreadable((error as NodeJS.ErrnoException).code ?? String(error));
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    return unreadable((error as Error).message);
  }
}

/** Writes a record whole (see readRecord); `mode` as for writeFileAtomic (private by default). */
export function writeRecord(file: string, value: unknown, mode?: number): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode);
}
