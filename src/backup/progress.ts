import { note, printable, type Output } from '../ui/output.js';
import { formatBytes, formatDuration } from '../units.js';

export interface ByteProgress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  env?: string;
  message?: string;
}

/**
 * Prints byte progress with rate and ETA on stderr: a rewritten line on a TTY, else at most one line per
 * `intervalMs` and one per phase change. Silent under --json.
 */
export function progressPrinter(out: Output, intervalMs = 2000): { update(event: ByteProgress): void; done(): void } {
  const tty = Boolean((out.stderr as { isTTY?: boolean }).isTTY);
  let phase = '';
  let phaseStart = Date.now();
  let lastPrint = 0;
  let printedTty = false;
  return {
    update(event) {
      if (out.json) return;
      const now = Date.now();
      const changed = event.phase !== phase;
      if (changed) {
        phase = event.phase;
        phaseStart = now;
      }
      if (!changed && now - lastPrint < (tty ? 200 : intervalMs)) return;
      lastPrint = now;
      const elapsed = (now - phaseStart) / 1000;
      const rate = elapsed > 0.5 ? event.bytesDone / elapsed : 0;
      const eta = rate > 0 && event.bytesTotal > event.bytesDone ? ` ETA ${formatDuration(((event.bytesTotal - event.bytesDone) / rate) * 1000)}` : '';
      const pct = event.bytesTotal > 0 ? ` ${Math.min(100, Math.floor((event.bytesDone / event.bytesTotal) * 100))}%` : '';
      const line = event.bytesDone === 0 && event.message
        ? `${event.phase}: ${event.message}`
        : `${event.phase}: ${formatBytes(event.bytesDone)}/${formatBytes(event.bytesTotal)}${pct}${rate ? ` ${formatBytes(rate)}/s` : ''}${eta}${event.env ? ` (${event.env})` : ''}${event.message ? ` ${event.message}` : ''}`;
      if (tty) {
        out.stderr.write(`\r\u001b[2K${printable(line)}`); // env names come from the disk: no terminal control
        printedTty = true;
      } else note(out, line);
    },
    done() {
      if (printedTty) out.stderr.write('\r\u001b[2K');
    },
  };
}
