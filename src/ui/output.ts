import type { Writable } from 'node:stream';
import { styleText } from 'node:util';
import { fromErrno, SynupError } from '../errors.js';

/** Where a command writes. Human text goes to stderr, the one JSON document to stdout (DESIGN.md). */
export interface Output {
  json: boolean;
  color: boolean;
  verbose: number;
  stdout: Writable;
  stderr: Writable;
}

export interface OutputOptions {
  json?: boolean;
  color?: boolean;
  verbose?: number;
  stdout?: Writable;
  stderr?: Writable;
  /** The environment synup runs in (NO_COLOR), from the CLI. */
  env: NodeJS.ProcessEnv;
}

export function createOutput(options: OutputOptions): Output {
  const { env } = options;
  const stderr = options.stderr ?? process.stderr;
  const isTty = Boolean((stderr as { isTTY?: boolean }).isTTY);
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  return {
    json: options.json ?? false,
    color: (options.color ?? true) && !noColor && isTty,
    verbose: options.verbose ?? 0,
    stdout: options.stdout ?? process.stdout,
    stderr,
  };
}

/**
 * Terminal control in text: escape sequences (CSI, OSC, DCS…, 7- and 8-bit), every other C0 control but tab and
 * newline (and CR before a newline), DEL, C1, and the bidi overrides that reorder what a terminal shows.
 */
const TERMINAL_CONTROL =
  /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -/]*[0-~]?|\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const COLOUR = /^\x1b\[[0-9;]*m$/;

/**
 * Text from outside (a changelog, a tool's output, a service log, an error message) made safe to print: each escape
 * sequence or control character becomes one U+FFFD, so a crafted file cannot clear the screen, retitle the window
 * or hide a line, and the reader sees that something was there. `keepColour`: synup's own SGR colour codes stay.
 */
export function printable(text: string, keepColour = false): string {
  return text.replace(TERMINAL_CONTROL, (seq) => (keepColour && COLOUR.test(seq) ? seq : '\ufffd'));
}

/** Human-readable line on stderr (suppressed under --json). Control characters from outside text are not printed. */
export function say(out: Output, text = ''): void {
  if (!out.json) out.stderr.write(printable(text, out.color) + '\n');
}

/** Diagnostic line on stderr even under --json (warnings, progress). */
export function note(out: Output, text: string): void {
  out.stderr.write(printable(text, out.color) + '\n');
}

/**
 * The one way JSON reaches stdout: one document on one line, so any output is valid JSON when it is the only
 * line and valid NDJSON after a run's event lines.
 */
export function emitJson(out: Output, value: unknown): void {
  out.stdout.write(JSON.stringify(value) + '\n');
}

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

/** Colour only where the output is a colour terminal (see createOutput); the escape codes are Node's own. */
export function paint(out: Output, style: Style, text: string): string {
  return out.color ? styleText(style, text) : text;
}

/**
 * Tables, the one module for them: `table` draws a bordered table (Flyway `info` style), `columns` aligns rows
 * without borders (each column as wide as its widest cell; `right` columns right-aligned, for numbers).
 */
export function columns(rows: string[][], options: { indent?: string; right?: number[]; minWidths?: number[] } = {}): string[] {
  const widths = rows.reduce<number[]>((w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)), options.minWidths ?? []);
  const pad = (cell: string, i: number) => (options.right?.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!));
  return rows.map((row) => (options.indent ?? '') + row.map((cell, i) => (i === row.length - 1 && !options.right?.includes(i) ? cell : pad(cell, i))).join(' '));
}

/** Renders rows as an aligned text table (Flyway `info` style). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join(' | ') + ' |';
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  return [rule, line(headers), rule, ...rows.map(line), rule].join('\n');
}

/** Prints an error the way every synup error reads: what failed, then how to fix it. */
export function reportError(out: Output, error: unknown): number {
  const err = error instanceof SynupError ? error : fromErrno(error);
  const message = err?.message ?? (error instanceof Error ? error.message : String(error));
  if (out.json) {
    emitJson(out, { ok: false, error: { code: err?.code ?? 'failed', message, hint: err?.hint, ...(err?.details ?? {}) } });
  }
  out.stderr.write(`synup: ${printable(message)}\n`);
  if (err?.hint) out.stderr.write(`  fix: ${printable(err.hint)}\n`);
  if (!err && out.verbose > 0 && error instanceof Error && error.stack) out.stderr.write(error.stack + '\n');
  return err?.exitCode ?? 1;
}
