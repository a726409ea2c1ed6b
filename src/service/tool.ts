import { execa } from 'execa';
import { SynupError } from '../errors.js';
import { outputCut, TOOL_OUTPUT_LIMITS } from '../proc.js';
import { stripControl } from './log-stamp.js';

export interface ToolOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Exit codes that are answers, not failures (e.g. `systemctl is-active` exits 3 for inactive). */
  okExitCodes?: number[];
  timeoutMs?: number;
}

export interface ToolResult {
  stdout: string;
  exitCode: number;
}

const toolDefaults = { timeoutMs: 120_000 } as const;

/** An argv for messages: long arguments (a JSON patch…) shortened. */
function showArgv(argv: string[]): string {
  return argv.map((a) => (a.length > 120 ? `${a.slice(0, 117)}...` : a)).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

function notInstalled(tool: string): SynupError {
  return new SynupError('failed', `${tool} is not installed or not on PATH`, {
    hint: `install ${tool}, or pick the service.adapter that matches how this cell runs`,
    details: { missingTool: tool },
  });
}

export const isToolMissing = (error: unknown) => error instanceof SynupError && typeof error.details?.missingTool === 'string';

/** Runs one tool invocation (argument array, never a shell); a failure names the command and its first stderr line. */
export async function runTool(argv: string[], options: ToolOptions): Promise<ToolResult> {
  const [file, ...args] = argv;
  const result = await execa(file!, args, {
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    stdin: 'ignore',
    reject: false,
    timeout: options.timeoutMs ?? toolDefaults.timeoutMs,
    maxBuffer: TOOL_OUTPUT_LIMITS,
  });
  if ((result as { code?: string }).code === 'ENOENT') throw notInstalled(file!);
  const cut = outputCut(result);
  if (cut) throw new SynupError('failed', `\`${showArgv(argv)}\` ${cut}`, { hint: 'this is not the output the tool gives; check the command and its arguments' });
  const exitCode = result.exitCode ?? -1;
  if (exitCode !== 0 && !(options.okExitCodes ?? []).includes(exitCode)) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? toolDefaults.timeoutMs} ms` : `exit ${result.exitCode ?? result.signal}`;
    // The last line: tools that print progress first put the error last (`docker compose pull` of a missing tag:
    // ` cortex Pulling`, then `Error response from daemon: manifest for … not found`); one-line errors are both.
    const stderr = String(result.stderr ?? '').trim().split('\n').map((l) => stripControl(l).trim()).filter(Boolean).at(-1) ?? '';
    throw new SynupError('failed', `\`${showArgv(argv)}\` failed (${why})${stderr ? `: ${stderr}` : ''}`);
  }
  return { stdout: String(result.stdout ?? ''), exitCode };
}

/**
 * Follows a tool's output line by line (`journalctl -f`, `docker compose logs -f`, `kubectl logs -f`) until the
 * signal aborts; the tool is terminated then. A tool that fails on its own ends the iteration with an error.
 */
export async function* followTool(argv: string[], options: { env: NodeJS.ProcessEnv; signal: AbortSignal; cwd?: string }): AsyncGenerator<string> {
  const [file, ...args] = argv;
  const subprocess = execa(file!, args, {
    env: options.env,
    extendEnv: false,
    cwd: options.cwd,
    stdin: 'ignore',
    reject: false,
    cancelSignal: options.signal,
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 64 * 1024 },
  });
  try {
    for await (const line of subprocess.iterable({ from: 'stdout' })) yield line;
  } finally {
    if (subprocess.exitCode === null) subprocess.kill();
  }
  const result = await subprocess;
  if (options.signal.aborted || result.isCanceled) return;
  if ((result as { code?: string }).code === 'ENOENT') throw notInstalled(file!);
  if (result.exitCode !== 0) {
    // The last line: tools that print progress first put the error last (`docker compose pull` of a missing tag:
    // ` cortex Pulling`, then `Error response from daemon: manifest for … not found`); one-line errors are both.
    const stderr = String(result.stderr ?? '').trim().split('\n').map((l) => stripControl(l).trim()).filter(Boolean).at(-1) ?? '';
    throw new SynupError('failed', `\`${showArgv(argv)}\` ended (exit ${result.exitCode ?? result.signal})${stderr ? `: ${stderr}` : ''}`);
  }
}

/**
 * Where a log follow starts: the earlier of the caller's `since` and the adapter's own last start, so the first
 * lines of a boot the adapter just started are never cut off by a `since` taken a moment after.
 */
export function earliest(...dates: (Date | undefined)[]): Date | undefined {
  return dates.filter((d): d is Date => d !== undefined).sort((a, b) => a.getTime() - b.getTime())[0];
}
