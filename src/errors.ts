/** Exit codes, one table (DESIGN.md). */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  refused: 3,
  rolledBack: 4,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

export interface SynupErrorOptions {
  /** What the operator can do next. */
  hint?: string;
  cause?: unknown;
  /** Extra machine-readable facts for --json output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The one error class synup throws on purpose. `code` picks the exit code; `message` says what failed;
 * `hint` says what to do next. The top-level catch in src/cli/index.ts is the only place that prints it.
 */
export class SynupError extends Error {
  readonly code: ExitCodeName;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ExitCodeName, message: string, options: SynupErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SynupError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): number {
    return ExitCode[this.code];
  }
}

export const usageError = (message: string, hint?: string) => new SynupError('usage', message, { hint });
export const refusal = (message: string, hint?: string) => new SynupError('refused', message, { hint });
export const failure = (message: string, options?: SynupErrorOptions) => new SynupError('failed', message, options);

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
