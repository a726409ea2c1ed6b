import { SynupError, usageError } from '../errors.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { withCellLock } from '../runner/run.js';
import { openCellSession, type CellSession } from '../runner/session.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, printable, say } from '../ui/output.js';
import { formatDuration } from '../units.js';
import { ServiceExited } from '../service/exit-watch.js';

/**
 * The version `start` runs: the one the data was last written by (a stopped cell's slabs/cell.lmdb), so start never
 * upgrades (`synup upgrade` does that, safely) nor starts older code on newer data; else what the adapter is set to run.
 */
async function versionToStart(session: CellSession): Promise<string> {
  const inData = await readCellInfo(session.cellDir).then((info) => info.cellVersion, () => null);
  if (inData) return inData;
  const configured = (await session.adapter.status()).configuredVersion;
  if (configured) return configured;
  throw usageError(`cannot tell which version to start: ${session.cellDir} has no readable cell:version and the ${session.adapter.name} adapter names none`, 'start it once with your own tooling; afterwards synup reads the version from the data');
}

/** Starts the version in the data and waits (health.startTimeout) until the health check says active. */
async function startAndWait(session: CellSession): Promise<{ version: string; activeAfterMs: number; pid: number | null }> {
  const version = await versionToStart(session);
  const started = Date.now();
  await session.adapter.start(version);
  const deadlineMs = session.config.health.startTimeout;
  await session.health.waitForActive({ deadlineMs, signal: AbortSignal.timeout(deadlineMs + 5_000) }).catch((error: unknown) => {
    // Its exit ends the wait at once (ServiceExited), not health.startTimeout later.
    if (error instanceof ServiceExited) throw new SynupError('failed', `${session.cellName} ${version} did not start, ${formatDuration(Date.now() - started)} after the start: ${error.how}`, { hint: error.hint });
    throw new SynupError('failed', `${session.cellName} ${version} started but is not active: ${(error as Error).message}`, { hint: 'see `synup logs -n 50`; `synup stop` stops it' });
  });
  return { version, activeAfterMs: Date.now() - started, pid: (await session.adapter.status()).pid ?? null };
}

async function stopService(session: CellSession): Promise<{ wasRunning: boolean; forced: boolean; durationMs: number }> {
  const wasRunning = (await session.adapter.status()).running;
  const result = await session.adapter.stop({ timeoutMs: session.config.service.stopTimeout });
  return { wasRunning, ...result };
}

const cellOf = (session: CellSession) => ({ name: session.cellName, dir: session.cellDir, adapter: session.adapter.name });

export async function runStart(ctx: CommandContext): Promise<number> {
  const session = openCellSession(ctx.config());
  const result = await withCellLock(session, { runId: `start-${Date.now()}`, command: 'start' }, () => startAndWait(session));
  if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'start', ...result });
  else say(ctx.out, `${session.cellName} ${result.version} started${result.pid ? ` (pid ${result.pid})` : ''}, active after ${formatDuration(result.activeAfterMs)}`);
  return 0;
}

export async function runStop(ctx: CommandContext): Promise<number> {
  const session = openCellSession(ctx.config());
  const result = await withCellLock(session, { runId: `stop-${Date.now()}`, command: 'stop' }, () => stopService(session));
  if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'stop', ...result });
  else say(ctx.out, result.wasRunning ? `${session.cellName} stopped in ${formatDuration(result.durationMs)}${result.forced ? ' (forced after service.stopTimeout)' : ''}` : `${session.cellName} was not running`);
  return 0;
}

export async function runRestart(ctx: CommandContext): Promise<number> {
  const session = openCellSession(ctx.config());
  const { stopped, started } = await withCellLock(session, { runId: `restart-${Date.now()}`, command: 'restart' }, async () => ({ stopped: await stopService(session), started: await startAndWait(session) }));
  if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'restart', stop: stopped, ...started });
  else say(ctx.out, `${session.cellName} ${stopped.wasRunning ? `stopped in ${formatDuration(stopped.durationMs)}, ` : ''}${started.version} started${started.pid ? ` (pid ${started.pid})` : ''}, active after ${formatDuration(started.activeAfterMs)}`);
  return 0;
}

/**
 * Takes over a running service synup did not start (process adapter): the holder of cell.guid's lock, whose
 * command line names the cell dir and whose health check answers as this cell (HTTPS with the cell's own
 * certificate pinned, or the configured healthcheck tool). Other adapters' tools already own their service.
 */
export async function runAdopt(ctx: CommandContext): Promise<number> {
  const session = openCellSession(ctx.config());
  const { adapter } = session;
  if (!adapter.adopt) {
    if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'adopt', adopted: false, reason: `the ${adapter.name} adapter manages the service through its tool` });
    else say(ctx.out, `nothing to adopt: the ${adapter.name} adapter manages ${session.cellName} through its own tool`);
    return 0;
  }
  const adopt = adapter.adopt.bind(adapter);
  const { status, already } = await withCellLock(session, { runId: `adopt-${Date.now()}`, command: 'adopt' }, async () => {
    const before = await adapter.status();
    if (!before.running) throw new SynupError('failed', `${session.cellName} is not running: nothing holds ${session.cellDir}/cell.guid`, { hint: 'start it with `synup start`' });
    if (before.managed) return { status: before, already: true };
    await adopt(async () => {
      const health = await session.health.check();
      if (!health.active) {
        throw new SynupError('refused', `pid ${before.pid ?? '?'} holds ${session.cellName} but its health check does not answer as this cell: ${health.detail}`, {
          hint: 'check health.port / health.check in synup.yaml (a booting cell: retry once it is active)',
        });
      }
    });
    return { status: await adapter.status(), already: false };
  });
  if (already) {
    // Started by synup, or adopted before: nothing changes, and nothing is said to have.
    if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'adopt', adopted: false, alreadyManaged: true, pid: status.pid ?? null, detail: status.detail ?? null });
    else say(ctx.out, `nothing to adopt: synup already manages ${session.cellName} (${status.detail})`);
    return 0;
  }
  if (ctx.out.json) emitJson(ctx.out, { cell: cellOf(session), action: 'adopt', adopted: true, pid: status.pid ?? null, detail: status.detail ?? null });
  else say(ctx.out, `${session.cellName} adopted: ${status.detail}`);
  return 0;
}

/** The last --lines lines of the service log; with --follow, new ones until interrupted. Takes no lock: read only. */
export async function runLogs(ctx: CommandContext, _args: string[], flags: { lines: number; follow?: boolean }): Promise<number> {
  const session = openCellSession(ctx.config());
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for await (const line of session.adapter.tail({ lines: flags.lines, follow: flags.follow === true, signal: controller.signal })) {
      if (ctx.out.json) emitJson(ctx.out, { line });
      else ctx.out.stdout.write(printable(line) + '\n'); // a service's log is outside text: no terminal control
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}
