import { existsSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil.js';

const assignment = (name: string) => new RegExp(`^\\s*(?:export\\s+)?${name}\\s*=\\s*(.*?)\\s*$`);

/** The value of `name` in an EnvironmentFile (the last assignment wins, as in systemd); null when unset. */
export function readEnvVariable(file: string, name: string): string | null {
  if (!existsSync(file)) return null;
  let value: string | null = null;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = assignment(name).exec(line);
    if (match) value = match[1]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return value;
}

/** Text with every assignment of `name` set to `value` (appended when absent); other lines untouched. */
function withEnvVariable(text: string, name: string, value: string): string {
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n');
  let found = false;
  const updated = lines.map((line) => {
    if (!assignment(name).test(line)) return line;
    found = true;
    return `${name}=${value}`;
  });
  if (!found) updated.push(`${name}=${value}`);
  return updated.join('\n') + '\n';
}

/** Rewrites one variable in an EnvironmentFile, temp + fsync + rename, keeping the file's mode. */
export function writeEnvVariable(file: string, name: string, value: string): void {
  const exists = existsSync(file);
  const text = exists ? readFileSync(file, 'utf8') : '';
  writeFileAtomic(file, withEnvVariable(text, name, value), exists ? statSync(file).mode & 0o7777 : 0o644);
}
