import { SynupError } from '../../errors.js';
import { formatConfigDuration, formatDuration } from '../../units.js';
import type { Step, StepContext } from '../context.js';
import { healthToolCommand } from '../../health/tool-command.js';
import { assertSameInstance, recordInstance } from './start.js';

const POLL_MS = 1000;

/**
 * Budget for the first boot: `health.startTimeout` without progress is a stall; the hard deadline grows with the
 * number of releases that carry migrations (DESIGN.md: migrations ⇒ long first boot).
 */
export function bootBudget(ctx: Pick<StepContext, 'config' | 'plan'>): { stallMs: number; deadlineMs: number } {
  const stallMs = ctx.config.health.startTimeout;
  return { stallMs, deadlineMs: stallMs * (2 + 2 * ctx.plan.migrations.length) };
}

/**
 * Waits until the new version is active AND its model migrations are done ("active" is not "migrated": the
 * listener comes up while the data-model migration still runs). Progress = new log lines or data files changing.
 * Failure = the process exits or is restarted behind synup's back, BadVersion, no progress, or the deadline; a
 * traceback alone is not (Synapse logs non-fatal ones).
 *
 * "Migrated" or "no model migration" is concluded only once the log is known to have been read up to the moment
 * active was seen (the real Cortex logs `beginning model migration` only 60–100 ms before its listener is up), never
 * from a quiet stream (issue 20: `docker compose logs -f` lags, and a client polling the Cortex keeps its log busy):
 * a followed file says it was read to its end (process adapter); a tool's stream carries the log source's own stamps
 * (docker, journald, kubelet) and, once active, one bounded read of the same log (no follow) says which stamp it had
 * reached: the follower has read everything before active once it has handed out that line.
 */
async function waitActiveAndMigrated(ctx: StepContext): Promise<void> {
  const { classifyLogLine, modelMigrationMs, newMigrationState, observe } = await import('../../health/logwatch.js');
  const { followBootLog } = await import('../boot-log.js');
  const { dataFingerprint } = await import('../progress.js');
  const { stallMs, deadlineMs } = bootBudget(ctx);
  const started = Date.now();
  const since = ctx.run.data.newStartedAt ? new Date(ctx.run.data.newStartedAt) : undefined;
  let lastProgress = Date.now();
  const boot = newMigrationState();
  const log = followBootLog(ctx.adapter, {
    since,
    onLine(text) {
      lastProgress = Date.now();
      const event = classifyLogLine(text);
      if (event) {
        event.at ??= Date.now(); // a log without Synapse's stamps: when synup read the line
        observe(boot, event);
        if (event.kind !== 'other') ctx.progress(text.trim());
      }
    },
    onProblem: (message) => ctx.progress(message),
  });

  let activeAt: number | null = null;
  /** The follower has read every line written before active was seen. */
  let readPastActive = false;
  let fingerprint = await dataFingerprint(ctx.cellDir);
  try {
    while (!(readPastActive && boot.model !== 'running')) {
      ctx.signal?.throwIfAborted();
      if (boot.failure !== null) throw new SynupError('failed', `the new version refused the data: ${boot.failure}`);
      const status = await ctx.adapter.status();
      if (!status.running) {
        throw new SynupError('failed', `the new version ${ctx.run.to} exited while booting${status.detail ? `: ${status.detail}` : ''}`);
      }
      // "Running" because another process holds the cell and answers (a second instance, another config's service)
      // while the instance synup started is gone: this boot failed all the same.
      const exited = await ctx.adapter.startedInstanceProblem?.('exited');
      if (exited) throw new SynupError('failed', `the new version ${ctx.run.to} exited while booting: ${exited}`);
      await recordInstance(ctx, status);
      assertSameInstance(ctx, status);
      const now = Date.now();
      if (now - started > deadlineMs) throw new SynupError('failed', `the new version is not active and migrated after ${formatDuration(deadlineMs)} (hard deadline for ${ctx.plan.migrations.length} release(s) with migrations)`);
      if (now - lastProgress > stallMs) throw new SynupError('failed', `no progress for ${formatDuration(stallMs)} (no log line, no data file change) while waiting for the new version to become active`, { hint: 'raise health.startTimeout if this service needs longer' });
      if (activeAt === null) {
        try {
          await ctx.health.waitForActive({ deadlineMs: POLL_MS, signal: AbortSignal.timeout(POLL_MS * 3), version: ctx.run.to });
          activeAt = Date.now();
          ctx.update((run) => {
            run.data.activeAt ??= new Date(activeAt!).toISOString();
          });
          ctx.progress(`active after ${formatDuration(activeAt - started)}`);
          continue;
        } catch (error) {
          if (error instanceof SynupError && error.details?.final === true) throw error;
          // not active yet
        }
      } else {
        readPastActive ||= await log.readPast(activeAt);
        await new Promise((resolve) => setTimeout(resolve, readPastActive ? POLL_MS : 50));
      }
      const next = await dataFingerprint(ctx.cellDir);
      if (next !== fingerprint) {
        fingerprint = next;
        lastProgress = Date.now();
      }
    }
  } finally {
    await log.stop();
  }
  const logError = log.error;
  const modelChanges = ctx.plan.modelChanges ?? [];
  if (logError !== null && boot.model === 'none') {
    ctx.progress(`WARNING: the service log could not be read (${logError}): whether a model migration ran is not known; synup concluded from the health check alone`);
  } else if (boot.model === 'none' && modelChanges.length > 0) {
    ctx.progress(`WARNING: the changelog announces data-model changes in ${modelChanges.join(', ')}, but the service logged no model migration up to the moment it was active (was the data already migrated?)`);
  }
  const migrationMs = modelMigrationMs(boot);
  ctx.update((run) => {
    run.data.migratedAt = new Date().toISOString();
    if (migrationMs !== null) run.data.modelMigrationMs = migrationMs;
  });
}

export const waitMigrations: Step = {
  name: 'wait-migrations',
  title: 'Wait for migrations',
  describe: (p) =>
    `Poll ${p.settings?.activeUrl ?? 'https /api/v1/active'} and follow the log until active and "model migrations complete"; ${p.migrations.length} migration(s) in ${p.releasesWithMigrations} release(s) make the first boot longer${p.settings ? `; a boot without progress for ${formatConfigDuration(p.settings.startTimeoutMs)} fails and rolls back` : ''}.`,
  run: waitActiveAndMigrated,
  dryRun(ctx) {
    const { stallMs, deadlineMs } = bootBudget(ctx);
    return [
      ctx.config.health.check === 'tool'
        ? `Would run ${healthToolCommand(ctx.config, ctx.adapter, ctx.plan.to).join(' ')} through the ${ctx.adapter.name} adapter until it reports nominal, and follow the service log`
        : `Would poll https://${ctx.config.health.host}:${ctx.config.health.port}/api/v1/active (trusting ${ctx.config.health.ca ?? 'the cell\'s own sslcert.pem'}) and follow the service log`,
      `Would wait for "model migrations complete" when a model migration begins; fail after ${formatDuration(stallMs)} without progress or ${formatDuration(deadlineMs)} in all`,
    ];
  },
};
