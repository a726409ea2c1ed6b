import { constants } from 'node:os';
import { SynupError } from './errors.js';
import type { Output } from './ui/output.js';

/** synup was asked to stop by a signal; exits 128 + the signal number (130 SIGINT, 143 SIGTERM), as a shell does. */
export class Interrupted extends SynupError {
  constructor(
    readonly signalName: 'SIGINT' | 'SIGTERM',
    message: string,
    hint?: string,
  ) {
    super('failed', message, { hint });
  }

  override get exitCode(): number {
    return 128 + constants.signals[this.signalName];
  }
}

export interface InterruptTrap {
  /** Aborted (reason: an Interrupted) at the first SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Removes the handlers and shows the terminal cursor again (a renderer may have hidden it). */
  dispose(): void;
}

const SHOW_CURSOR = '\x1b[?25h';

/** The traps in force (a deployment's, and those of the service upgrades it runs). */
const active: AbortController[] = [];

/**
 * While a command changes a cell, SIGINT/SIGTERM do not kill synup: the first one asks it to finish the current
 * atomic action and then stop cleanly (or roll back once downtime has begun); later ones only say it is on it.
 * `what` tells the operator what will happen next. Traps nest: every one in force is aborted by the signal and says
 * what it does, and a trap set after one in force was aborted starts aborted (no new work begins after the signal).
 */
export function trapInterrupts(out: Output, what: string): InterruptTrap {
  const controller = new AbortController();
  const enclosing = active.find((c) => c.signal.aborted);
  if (enclosing) controller.abort(enclosing.signal.reason);
  active.push(controller);
  const showCursor = () => ((out.stderr as { isTTY?: boolean }).isTTY ? SHOW_CURSOR : '');
  const onSignal = (name: 'SIGINT' | 'SIGTERM') => {
    if (controller.signal.aborted) {
      out.stderr.write(`synup: ${name} again: still ${what}; please wait (the cell must not be left half-done)\n`);
      return;
    }
    out.stderr.write(`${showCursor()}synup: received ${name}: finishing the current action, then ${what}\n`);
    controller.abort(new Interrupted(name, `interrupted by ${name}`));
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  let disposed = false;
  return {
    signal: controller.signal,
    dispose() {
      if (disposed) return; // idempotent: a second call must not remove another trap
      disposed = true;
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      active.splice(active.indexOf(controller), 1);
      out.stderr.write(showCursor());
    },
  };
}
