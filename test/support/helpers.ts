import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { execa, type Result } from 'execa';
import { afterEach } from 'vitest';
import { budget } from './budget.js';
import { classifyLogLine, newMigrationState, observe, type LogEvent, type MigrationState } from '../../src/health/logwatch.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const synupBin = path.join(repoRoot, 'bin', 'synup.js');
/** The real Synapse CHANGELOG.rst: the snapshot synup ships (changelogs/NOTICE). */
export const realChangelog = path.join(repoRoot, 'changelogs', 'synapse-CHANGELOG.rst');
/**
 * `../shared/` beside the repo; in a git worktree (its `.git` is a file: `gitdir: <main>/.git/worktrees/<name>`), beside
 * the main checkout when the worktree has none.
 */
function sharedDirOf(root: string): string {
  const beside = path.join(root, '..', 'shared');
  if (existsSync(beside)) return beside;
  const gitFile = path.join(root, '.git');
  const gitdir = existsSync(gitFile) && statSync(gitFile).isFile() ? /^gitdir: (.+)$/m.exec(readFileSync(gitFile, 'utf8'))?.[1] : undefined;
  return gitdir ? path.join(path.resolve(root, gitdir), '..', '..', '..', '..', 'shared') : beside;
}
export const sharedDir = sharedDirOf(repoRoot);
/** The lab's run-cortex.sh (real-Cortex tests): SYN_LAB_RUN_CORTEX, else ../shared/synapse-lab/run-cortex.sh. */
export const runCortexScript = process.env.SYN_LAB_RUN_CORTEX ?? path.join(sharedDir, 'synapse-lab', 'run-cortex.sh');

const tempDirs: string[] = [];

/** A temp dir removed after the current test. */
export function tempDir(prefix = 'synup-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/**
 * A loopback HTTP server answering every request with `body` (closed after the test): a changelog URL. `close()`
 * makes the URL one nobody listens on.
 */
export async function serveChangelog(body: string | Buffer, status = 200): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/CHANGELOG.rst`, hits: () => hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeout?: number;
}

/** Runs the built CLI as a real child process (argument array, no shell). Never throws on a non-zero exit. */
export function synup(args: string[], options: RunOptions = {}): Promise<Result<{ reject: false }>> {
  return execa(process.execPath, [synupBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { NO_COLOR: '1', ...options.env },
    reject: false,
    stdin: 'ignore',
    timeout: options.timeout ?? budget(60_000),
  }) as Promise<Result<{ reject: false }>>;
}

export interface InProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI's `main` in this worker (no process start: ~0.1–0.3 s of CPU saved per call) for tests about a
 * command's logic and output. The process boundary (exit codes of bin/synup.js, signals, stdin) stays with `synup()`.
 * Same environment as `synup()` gives the child: this process's, NO_COLOR=1, then `options.env`.
 */
export async function synupInProcess(args: string[], options: Omit<RunOptions, 'timeout'> = {}): Promise<InProcessResult> {
  const { main } = await import('../../src/cli/index.js');
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk, _enc, done) => (append(String(chunk)), done()) });
  const exitCode = await main(args, {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
  });
  // execa strips the final newline of each stream; so does this, so assertions read the same either way.
  return { exitCode, stdout: stdout.replace(/\n$/, ''), stderr: stderr.replace(/\n$/, '') };
}

/** The first `count` items a log follower yields; then its signal is aborted, which ends it. */
export async function firstFollowed<T>(follow: (signal: AbortSignal) => AsyncIterable<T>, count: number): Promise<T[]> {
  const controller = new AbortController();
  const items: T[] = [];
  for await (const item of follow(controller.signal)) {
    items.push(item);
    if (items.length === count) controller.abort();
  }
  return items;
}

/**
 * Folds a service log through the boot state machine (health/logwatch.ts) until migrated or failed, or the lines end:
 * what the wait-migrations step reads from the log, without its health polls.
 */
export async function watchLog(
  lines: AsyncIterable<string>,
  options: { expectModelMigration?: boolean; onEvent?: (event: LogEvent, state: Readonly<MigrationState>) => void } = {},
): Promise<MigrationState & { ended: 'migrated' | 'failed' | 'log-ended' }> {
  const state = newMigrationState();
  for await (const line of lines) {
    const event = classifyLogLine(line);
    if (!event || event.kind === 'other') continue;
    observe(state, event, options);
    options.onEvent?.(event, state);
    if (state.failure !== null) return { ...state, ended: 'failed' };
    if (state.migrated) return { ...state, ended: 'migrated' };
  }
  return { ...state, ended: 'log-ended' };
}
