import { Listr, ListrLogger, ProcessOutput, type ListrTaskWrapper } from 'listr2';
import { emitJson, printable, type Output } from '../ui/output.js';
import { formatDuration } from '../units.js';
import type { RunnerEvent } from './context.js';

export type RendererName = 'listr' | 'plain' | 'json';

/** One pure decision (STYLE.md): JSON when asked, listr2 on an interactive terminal, plain lines otherwise. */
export function chooseRenderer(input: { json: boolean; isTTY: boolean; ci: boolean }): RendererName {
  if (input.json) return 'json';
  return input.isTTY && !input.ci ? 'listr' : 'plain';
}

export interface Reporter {
  emit(event: RunnerEvent): void | Promise<void>;
}

/** `[upgrade/<step>] <state>` — one line per state change; the format tests compare. */
function plainReporter(out: Output, command: string): Reporter {
  return {
    emit(event) {
      if (event.type === 'step') {
        const extra = event.durationMs !== undefined && event.state !== 'running' && event.state !== 'rolling-back' ? ` (${formatDuration(event.durationMs)})` : '';
        out.stderr.write(`[${command}/${event.step}] ${event.state}${extra}${event.error ? `: ${event.error}` : ''}\n`);
      } else if (event.type === 'progress') {
        out.stderr.write(`[${command}/${event.step}]   ${event.message}\n`);
      } else if (event.message) {
        out.stderr.write(`[${command}] ${event.message}\n`);
      }
    },
  };
}

function jsonReporter(out: Output): Reporter {
  return {
    emit(event) {
      emitJson(out, { time: new Date().toISOString(), ...event });
    },
  };
}

type TaskHandle = { task: ListrTaskWrapper<unknown, any, any>; done: () => void; fail: (e: Error) => void };

/**
 * listr2 on a TTY: one task per step (and per undo), its output line showing progress such as MB/s and ETA.
 * listr2 only renders: the steps are not listr2 tasks because the executor journals every state change with fsync,
 * resumes from the journal after a crash and rolls back in reverse, none of which listr2's task rollback does.
 */
function listrReporter(out: Output): Reporter {
  let current: TaskHandle | null = null;
  let running: Promise<unknown> = Promise.resolve();
  // Human output goes to stderr (DESIGN.md), listr2 included.
  const logger = new ListrLogger({ processOutput: new ProcessOutput(out.stderr as NodeJS.WriteStream, out.stderr as NodeJS.WriteStream) });
  return {
    async emit(event) {
      if (event.type === 'progress') {
        if (current) current.task.output = event.message;
        return;
      }
      if (event.type === 'run') {
        if (event.message) out.stderr.write(`${event.message}\n`);
        return;
      }
      if (event.state === 'running' || event.state === 'rolling-back') {
        const title = event.state === 'rolling-back' ? `Undo: ${event.title}` : event.title;
        let ready!: () => void;
        const started = new Promise<void>((resolve) => (ready = resolve));
        const list = new Listr(
          [{ title, task: (_ctx, task) => new Promise<void>((done, fail) => { current = { task, done, fail }; ready(); }) }],
          { renderer: 'default', rendererOptions: { logger }, registerSignalListeners: false, exitOnError: true },
        );
        running = list.run().catch(() => undefined);
        await started;
        return;
      }
      const handle = current;
      current = null;
      if (!handle) return;
      if (event.state === 'failed' || event.state === 'rollback-failed') handle.fail(new Error(event.error ?? event.state));
      else handle.done();
      await running;
    },
  };
}

export function createReporter(out: Output, command: string, renderer: RendererName): Reporter {
  if (renderer === 'json') return jsonReporter(out);
  const reporter = renderer === 'listr' ? listrReporter(out) : plainReporter(out, command);
  // Messages carry outside text (service log lines, a tool's error): no terminal control reaches the screen.
  return { emit: (event) => reporter.emit(printableEvent(event)) };
}

function printableEvent(event: RunnerEvent): RunnerEvent {
  const fields = event as { message?: unknown; error?: unknown; title?: unknown };
  const clean = (value: unknown) => (typeof value === 'string' ? printable(value) : value);
  return { ...event, ...('message' in fields ? { message: clean(fields.message) } : {}), ...('error' in fields ? { error: clean(fields.error) } : {}), ...('title' in fields ? { title: clean(fields.title) } : {}) } as RunnerEvent;
}
