import { readFileSync } from 'node:fs';

/** synup's own version, from package.json (one place). */
export const SYNUP_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
