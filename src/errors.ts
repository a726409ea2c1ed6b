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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const errnoVerb: Record<string, string> = { open: 'open', read: 'read', write: 'write', mkdir: 'create the dir', rename: 'rename', scandir: 'list', unlink: 'remove', rmdir: 'remove', stat: 'read', lstat: 'read', copyfile: 'copy', link: 'link', symlink: 'link', fsync: 'sync' };

/** errno → [exit code, what it means, what to do]. Missing or wrong paths are bad input; a host that forbids the write is a refusal. */
const errnoMeaning: Record<string, [ExitCodeName, string, string]> = {
  ENOENT: ['usage', 'it (or a parent dir) does not exist', 'check the path, or create the parent dir first'],
  ENOTDIR: ['usage', 'a part of the path is not a directory', 'check the path'],
  EISDIR: ['usage', 'it is a directory', 'name a file, not a directory'],
  EEXIST: ['usage', 'it already exists', 'choose another name; synup never overwrites what it did not create'],
  ELOOP: ['usage', 'too many symlinks', 'check the path for a symlink loop'],
  ENAMETOOLONG: ['usage', 'the name is too long', 'choose a shorter path'],
  EACCES: ['refused', 'permission denied', 'run synup as a user who may do this, or choose a path it may write'],
  EPERM: ['refused', 'operation not permitted', 'run synup as a user who may do this, or choose a path it may write'],
  EROFS: ['refused', 'the filesystem is read-only', 'choose a path on a writable filesystem'],
  ENOSPC: ['refused', 'no space left on the device', 'free space on that filesystem or choose another'],
  EDQUOT: ['refused', 'disk quota exceeded', 'free space within the quota or choose another filesystem'],
};

/**
 * A raw filesystem error (errno, syscall, path) as a one-line SynupError with a fix and the right exit code;
 * null for anything else. The top-level catch applies it, so no command prints a bare errno.
 */
export function fromErrno(error: unknown): SynupError | null {
  const e = error as NodeJS.ErrnoException & { dest?: string };
  if (!(error instanceof Error) || typeof e.code !== 'string' || !e.syscall) return null;
  const meaning = errnoMeaning[e.code];
  const target = e.path ? ` ${e.path}${e.dest ? ` → ${e.dest}` : ''}` : '';
  const what = `cannot ${errnoVerb[e.syscall] ?? e.syscall}${target}`;
  if (!meaning) return new SynupError('failed', `${what}: ${e.code}`, { cause: error });
  const [code, reason, hint] = meaning;
  return new SynupError(code, `${what}: ${reason} (${e.code})`, { hint, cause: error });
}
