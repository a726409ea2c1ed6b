import { createInterface } from 'node:readline/promises';
import { SynupError, usageError } from '../errors.js';
import type { Output } from './output.js';

/**
 * The one y/N prompt: asks on a TTY (on stderr, where human output goes); without one, or under --json, `-y` is
 * required (a maintenance-window script must say it means it). Anything but y/yes refuses with nothing changed.
 */
export async function confirmOrRefuse(out: Output, yes: boolean, question: string): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY || out.json) {
    throw usageError('refusing to act without confirmation: no terminal to ask on', 'pass -y/--yes to confirm non-interactively');
  }
  const rl = createInterface({ input: process.stdin, output: out.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new SynupError('refused', 'not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}
