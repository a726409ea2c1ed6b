import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Dir holding the fake `systemctl`, `journalctl`, `docker`, `kubectl` and `helm`. */
export const FAKES_DIR = path.dirname(fileURLToPath(import.meta.url));

export interface FakeWorld {
  /** Environment that puts the fakes first on PATH and points them at this world's files. */
  env: NodeJS.ProcessEnv;
  /** Every invocation so far, in order: the tool and its argv (without the tool name). */
  calls(): { tool: string; argv: string[] }[];
  state<T = Record<string, unknown>>(): T;
  setState(state: unknown): void;
}

/** A fake world in `dir`: state.json (what the tools see) and calls.jsonl (what they were asked). */
export function fakeWorld(dir: string, state: unknown): FakeWorld {
  const stateFile = path.join(dir, 'fake-state.json');
  const logFile = path.join(dir, 'fake-calls.jsonl');
  writeFileSync(stateFile, JSON.stringify(state, null, 2));
  writeFileSync(logFile, '');
  return {
    env: { ...process.env, PATH: `${FAKES_DIR}${path.delimiter}${process.env.PATH ?? ''}`, SYNUP_FAKE_STATE: stateFile, SYNUP_FAKE_LOG: logFile },
    calls: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { tool: string; argv: string[] }),
    state: <T>() => JSON.parse(readFileSync(stateFile, 'utf8')) as T,
    setState: (next) => writeFileSync(stateFile, JSON.stringify(next, null, 2)),
  };
}
