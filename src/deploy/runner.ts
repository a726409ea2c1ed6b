import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandContext } from '../config/context.js';
import { Writable } from 'node:stream';
import { runPool } from '../backup/files.js';
import { say, type Output } from '../ui/output.js';
import { errorMessage, SynupError } from '../errors.js';
import { classifyLogLine, newMigrationState, observe } from '../health/logwatch.js';
import { followBootLog } from '../runner/boot-log.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { openCellSession, type CellSession } from '../runner/session.js';
import { unfinishedCellRun } from './cell-runs.js';
import type { DeploymentService, MirrorCommands } from './file.js';
import type { DeploymentJournal, DeploymentRun, PhaseRecord } from './journal.js';
import { Interrupted } from '../interrupt.js';
import { nexusIndex, promote, promotionShortfall, setMirrorOf, waitCaughtUp, warmStorm, type IndexHolder } from './mirror.js';
import { prepareNexusRead, type PreparedNexusRead } from '../lmdb/nexus.js';
import { crashPoint, withCrashScope } from '../runner/crash.js';
import type { Lane, Phase } from './plan.js';
import { serviceContext, type PreparedDeployment } from './prepare.js';

/**
 * The single-cell upgrade of one service (`synup upgrade`'s module entry, handed in by the command so that the
 * deployment engine stays below the CLI): its exit code.
 */
export type UpgradeCell = (ctx: CommandContext, flags: { to: string; yes: true; backup: boolean }) => Promise<number>;

/** `synup resume` of one service's interrupted single-cell run (injected likewise): its exit code. */
export type ResumeCell = (ctx: CommandContext) => Promise<number>;

export interface DeployOptions {
  makeBackup: boolean;
  upgradeCell: UpgradeCell;
  resumeCell: ResumeCell;
  /** Lanes of one tier run at once (default 1: one after another). */
  parallel?: number;
  /** Aborted (reason: an Interrupted) by SIGINT/SIGTERM: the current atomic action finishes, then the run stops. */
  signal?: AbortSignal;
}

export type DeploymentResult =
  | { outcome: 'done' }
  | { outcome: 'failed' | 'rolled-back'; phase: string; error: string }
  /** `phase`: the one interrupted, or the next one when the signal came between two (`detail` then says so). */
  | { outcome: 'interrupted'; phase: string; error: string; interrupted: Interrupted };

/** A new run: every phase pending, targets fixed now. */
export function newDeploymentRun(prepared: PreparedDeployment): DeploymentRun {
  const phases = prepared.plan.tiers.flatMap((t) => t.lanes.flatMap((l) => l.phases));
  return {
    deployment: prepared.deployment.name,
    file: prepared.deployment.file,
    startedAt: new Date().toISOString(),
    outcome: 'running',
    targets: Object.fromEntries(prepared.inputs.map((i) => [i.service.name, i.to])),
    phaseOrder: phases.map((p) => p.id),
    phases: Object.fromEntries(phases.map((p) => [p.id, { state: 'pending' } satisfies PhaseRecord])),
    leaders: Object.fromEntries(prepared.deployment.services.filter((s) => s.mirrors.length).map((s) => [s.name, s.name])),
  };
}

type Stopped = Exclude<DeploymentResult, { outcome: 'done' }>;

/** Thrown by a lane that stopped, so runPool starts no further lane of its tier. */
class LaneStopped extends Error {}

/**
 * Runs the phases not yet done, tier by tier. The lanes of a tier are independent: up to `options.parallel` run at
 * once, each its phases in order (its output prefixed with its service when several run). The first lane that stops
 * (a phase failed, or a signal) lets the lanes already running finish, starts no other, and the run stops before the
 * next tier: an upgrade that failed was rolled back by the single-cell runner (that service back at its version);
 * every service before it stays upgraded, every one after it is untouched. `resume` starts again at that phase.
 */
export async function runDeployment(ctx: CommandContext, prepared: PreparedDeployment, journal: DeploymentJournal, run: DeploymentRun, options: DeployOptions): Promise<DeploymentResult> {
  const save = () => journal.write(run);
  run.outcome = 'running';
  delete run.error;
  save();
  for (const tier of prepared.plan.tiers) {
    const pending = tier.lanes.filter((lane) => lane.phases.some((p) => run.phases[p.id]?.state !== 'done'));
    const concurrent = (options.parallel ?? 1) > 1 && pending.length > 1;
    const stops: Stopped[] = [];
    await runPool(pending, options.parallel ?? 1, async (lane) => {
      const out = concurrent ? prefixedOutput(ctx.out, `[${lane.services[0]}] `) : null;
      try {
        const stopped = await runLane(out ? { ...ctx, out } : ctx, lane, prepared, run, save, options);
        if (stopped) {
          stops.push(stopped);
          throw new LaneStopped();
        }
      } finally {
        out?.stderr.end();
      }
    }).catch((error: unknown) => {
      if (!(error instanceof LaneStopped)) throw error;
    });
    const [first] = stops;
    if (first) {
      run.outcome = first.outcome;
      run.error = stops.map((s) => `${s.phase}: ${s.error}`).join('; ');
      run.endedAt = new Date().toISOString();
      save();
      return first;
    }
  }
  run.outcome = 'done';
  run.endedAt = new Date().toISOString();
  save();
  return { outcome: 'done' };
}

/** One lane's phases not yet done, in order; how it stopped, or null when all are done. */
async function runLane(ctx: CommandContext, lane: Lane, prepared: PreparedDeployment, run: DeploymentRun, save: () => void, options: DeployOptions): Promise<Stopped | null> {
  for (const phase of lane.phases) {
    const record = run.phases[phase.id] ?? (run.phases[phase.id] = { state: 'pending' });
    if (record.state === 'done') continue;
    if (options.signal?.aborted) {
      const interrupted = options.signal.reason as Interrupted;
      return { outcome: 'interrupted', phase: phase.id, error: `${interrupted.message} before this phase began`, interrupted };
    }
    // A phase begun before (synup stopped or killed during it) is taken up again: its actions are idempotent.
    const resumed = record.state !== 'pending';
    Object.assign(record, { state: 'running', startedAt: new Date().toISOString(), endedAt: undefined, detail: undefined });
    save();
    say(ctx.out, `[deploy/${phase.id}] ${phase.description}`);
    try {
      record.detail = await runPhase(ctx, phase, prepared, run, options, resumed);
      record.state = 'done';
    } catch (error) {
      record.endedAt = new Date().toISOString();
      if (options.signal?.aborted) {
        // Whatever ended the phase after the signal (a wait cut short, a command the signal reached), it stopped on it.
        const interrupted = error instanceof Interrupted ? error : (options.signal.reason as Interrupted);
        record.state = 'interrupted';
        record.detail = error instanceof Interrupted ? error.message : `${interrupted.message}; then: ${errorMessage(error)}`;
        save();
        return { outcome: 'interrupted', phase: phase.id, error: record.detail, interrupted };
      }
      record.state = error instanceof RolledBack ? 'rolled-back' : 'failed';
      record.detail = errorMessage(error);
      save();
      say(ctx.out, `[deploy/${phase.id}] ${record.state}: ${record.detail}`);
      if (error instanceof SynupError && error.hint) say(ctx.out, `[deploy/${phase.id}]   fix: ${error.hint}`);
      return { outcome: record.state, phase: phase.id, error: record.detail };
    }
    record.endedAt = new Date().toISOString();
    save();
    say(ctx.out, `[deploy/${phase.id}] done: ${record.detail}`);
  }
  return null;
}

/** `out` with every stderr line prefixed (a lane's, among others running at once); stdout (JSON lines) as it is. */
function prefixedOutput(out: Output, prefix: string): Output {
  let partial = '';
  const stderr = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      if (lines.length) out.stderr.write(lines.map((line) => `${prefix}${line}\n`).join(''));
      done();
    },
    final(done) {
      if (partial) out.stderr.write(`${prefix}${partial}\n`);
      done();
    },
  });
  return { ...out, stderr };
}

class RolledBack extends Error {}

function sessionOf(ctx: CommandContext, service: DeploymentService, role: 'leader' | 'mirror'): CellSession {
  return openCellSession(serviceContext(ctx, service, role).config());
}

/**
 * Throws the Interrupted of `signal` (if it was aborted) with what stands now; between two atomic actions of a phase.
 */
function stopIfInterrupted(signal: AbortSignal | undefined, state: string): void {
  if (!signal?.aborted) return;
  const reason = signal.reason as Interrupted;
  throw new Interrupted(reason.signalName, `${reason.message}: ${state}`);
}

/** `wait`, and when the signal cut it short, an Interrupted saying what stands. */
async function interruptibleWait<T>(signal: AbortSignal | undefined, state: string, wait: () => Promise<T>): Promise<T> {
  try {
    return await wait();
  } catch (error) {
    stopIfInterrupted(signal, state);
    throw error;
  }
}

async function runPhase(ctx: CommandContext, phase: Phase, prepared: PreparedDeployment, run: DeploymentRun, options: DeployOptions, resumed = false): Promise<string> {
  const { signal } = options;
  const byName = new Map(prepared.deployment.services.map((s) => [s.name, s]));
  // loadDeployment refuses mirrors without mirror: commands, so a lane with a catch-up or promote phase has them.
  const commands = prepared.deployment.mirror!;
  const service = byName.get(phase.service)!;
  const to = run.targets[service.name]!;
  switch (phase.kind) {
    case 'upgrade':
    case 'upgrade-mirror':
    case 'upgrade-old-leader':
      return upgradeService(ctx, phase, service, to, options);
    case 'catch-up': {
      const { mirrorIndex, leaderIndex, waitedMs } = await interruptibleWait(signal, `nothing changed while waiting for ${service.name} to catch up with ${phase.peer}`, () =>
        waitCaughtUp(commands, sessionOf(ctx, service, 'mirror'), sessionOf(ctx, byName.get(phase.peer!)!, 'leader'), signal, () => crashPoint(`${phase.id}@leader-index-read`)),
      );
      return `caught up: nexus index ${mirrorIndex} ≥ leader's ${leaderIndex} (waited ${waitedMs} ms)`;
    }
    case 'follow-new-leader': {
      const leader = byName.get(phase.peer!)!;
      const session = sessionOf(ctx, service, 'mirror');
      let repointed = '';
      // Without AHA the mirror follows the old leader's URL: it is pointed at the new one the way the old leader is,
      // and restarted to read it (it already runs the target version). With AHA it follows the leader's name by itself.
      // One action (a signal waits for it): a mirror is never left stopped.
      if (commands.promotion === 'failure') {
        stopIfInterrupted(signal, `nothing changed: ${service.name} still follows ${phase.peer}'s predecessor`);
        const started = Date.now();
        setMirrorOf(session.cellDir, leader.url!);
        await session.adapter.stop({ timeoutMs: session.config.service.stopTimeout });
        crashPoint(`${phase.id}@stopped`);
        await session.adapter.start(to);
        repointed = `set to follow ${leader.name} (cell.mods.yaml) and restarted in ${Date.now() - started} ms; `;
      }
      const following = commands.promotion === 'failure' ? `${service.name} was set to follow ${leader.name} and restarted` : 'nothing changed';
      const { mirrorIndex, leaderIndex, waitedMs } = await interruptibleWait(signal, `${following}; waiting for it to catch up with ${leader.name} was cut short`, () =>
        waitCaughtUp(commands, session, sessionOf(ctx, leader, 'leader'), signal, () => crashPoint(`${phase.id}@leader-index-read`)).catch((error: unknown) => {
          if (commands.promotion === 'failure' || !(error instanceof SynupError)) throw error;
          throw new SynupError(error.code, error.message, {
            hint: `with mirror.promotion: graceful a mirror follows the leader by its AHA name (mirror: aha://…); one that follows the old leader's address is left behind: point ${service.name} at the AHA name, or use promotion: failure (synup re-points every mirror)`,
          });
        }),
      );
      return `${repointed}caught up with ${leader.name}: nexus index ${mirrorIndex} ≥ ${leaderIndex} (waited ${waitedMs} ms)`;
    }
    case 'promote': {
      const session = sessionOf(ctx, service, 'leader');
      const oldLeader = byName.get(phase.peer!)!;
      const since = new Date();
      // Resumed after synup was stopped mid-promotion: a mirror that already leads is not promoted twice.
      if ((await session.health.check()).active) {
        run.leaders[phase.peer!] = service.name;
        if (commands.promotion === 'failure') setMirrorOf(sessionOf(ctx, oldLeader, 'mirror').cellDir, service.url!);
        else await stopOldLeader(ctx, oldLeader);
        const migrated = await interruptibleWait(signal, `${service.name} leads; waiting for its migrations was cut short`, () => waitLeaderMigrated(session, since, signal));
        return `${service.name} already leads (promoted before synup stopped); ${migrated}`;
      }
      const untouched = `nothing changed: ${oldLeader.name} still leads`;
      // Only a Cortex runs Storm; the other services have no parser pool to start.
      const warmed = service.kind === 'cortex' ? await interruptibleWait(signal, untouched, () => warmStorm(session, to)) : null;
      if (warmed && 'unwarmed' in warmed) say(ctx.out, `[deploy/${phase.id}] WARNING: ${service.name}'s Storm is not warmed: ${warmed.unwarmed}. The first writes on the new leader will wait for its Storm parser pool to start (~1.5 s on a real Cortex)`);
      const warmText = warmed && 'version' in warmed ? `Storm warmed (answers ${warmed.version}) in ${warmed.ms} ms; ` : '';
      const migratedWait = () => interruptibleWait(signal, `${service.name} was promoted and leads, ${oldLeader.name} follows it and is stopped until its upgrade; waiting for the new leader's migrations was cut short`, () => waitLeaderMigrated(session, since, signal));
      // From the promote command on, the hand-off is one action: a signal waits for it, so a lane is never left with
      // no leader or two.
      if (commands.promotion === 'graceful') {
        stopIfInterrupted(signal, untouched);
        const handoffMs = await promote(commands, session);
        crashPoint(`${phase.id}@handed-off`);
        run.leaders[phase.peer!] = service.name;
        const stopped = await stopOldLeader(ctx, oldLeader);
        const migrated = await migratedWait();
        return `${warmText}promoted in ${handoffMs} ms (hand-off); ${phase.peer} now follows ${service.name} and was stopped in ${stopped} until its upgrade; ${migrated}`;
      }
      return promoteFailureMode(ctx, { phase, service, oldLeader, session, commands, run, byName, warmText, untouched, migratedWait, signal, resumed });
    }
  }
}

/**
 * Without AHA: the leader is stopped (no write may land on it any more), the mirror takes over, the old leader will
 * come back as the new one's mirror. The promoted mirror must hold every entry the leader acknowledged before it went:
 * read just before the stop, then checked against what the stopped leader's files hold (a write can land between the
 * read and the stop). A leader found already stopped (synup was killed during a promotion, or it went down by itself)
 * is judged by its files alone: the mirror promoted when it has them all, else the old leader started again as the
 * leader and the promotion run from the start.
 */
async function promoteFailureMode(
  ctx: CommandContext,
  p: { phase: Phase; service: DeploymentService; oldLeader: DeploymentService; session: CellSession; commands: MirrorCommands; run: DeploymentRun; byName: Map<string, DeploymentService>; warmText: string; untouched: string; migratedWait: () => Promise<string>; signal?: AbortSignal; resumed: boolean },
): Promise<string> {
  const { phase, service, oldLeader, session, commands, run, byName, warmText, untouched, signal } = p;
  const leaderSession = sessionOf(ctx, oldLeader, 'leader');
  if (leaderSession.adapter.remoteData) {
    throw new SynupError('refused', `${oldLeader.name}'s data is on a volume synup cannot read (${await leaderSession.adapter.remoteData.describe()}): it could not check that ${service.name} has every entry ${oldLeader.name} acknowledged before its stop; ${untouched}`, {
      hint: 'use mirror.promotion: graceful (AHA) for services on Kubernetes volumes',
    });
  }
  const mirrorSession = sessionOf(ctx, service, 'mirror');
  const leaderVersion = (await readCellInfo(leaderSession.cellDir)).cellVersion;
  if (!leaderVersion) throw new SynupError('failed', `${oldLeader.name}'s cell:version cannot be read (synup could not start it again after the stop); ${untouched}`);
  const others = oldLeader.mirrors.filter((name) => name !== service.name).map((name) => ({ name, session: sessionOf(ctx, byName.get(name)!, 'mirror') }));
  const mirrorsIndexes = () => Promise.all([mirrorSession, ...others.map((o) => o.session)].map((s) => nexusIndex(commands, s).catch(() => null)));
  const startLeaderAgain = async () =>
    leaderSession.adapter
      .start(leaderVersion)
      .then(() => leaderSession.health.waitForActive({ deadlineMs: leaderSession.config.health.startTimeout, signal: AbortSignal.timeout(leaderSession.config.health.startTimeout + 5000) }))
      .then(() => null, (error: unknown) => errorMessage(error));

  if (!(await leaderSession.adapter.status()).running) {
    // Whatever is left of its exit (a drive worker) is ended, so its files are final and it can start again.
    await leaderSession.adapter.stop({ timeoutMs: leaderSession.config.service.stopTimeout });
    const check = await checkNothingLost(commands, { service, mirrorSession, oldLeader, leaderFiles: prepareNexusRead(leaderSession.cellDir), others, early: mirrorsIndexes(), answeredIndex: null });
    const already = `${oldLeader.name} was already stopped (${p.resumed ? 'synup stopped during the promotion' : 'not by this run'})`;
    if (!('refused' in check)) {
      const promoteMs = await promote(commands, session);
      crashPoint(`${phase.id}@promoted`);
      run.leaders[phase.peer!] = service.name;
      setMirrorOf(leaderSession.cellDir, service.url!);
      const migrated = await p.migratedWait();
      return `${warmText}${already}: nexus index ${check.leaderIndex} in its files, ${service.name} has ${check.mirrorIndex}; ${service.name} promoted (failure mode) in ${promoteMs} ms; ${phase.peer} set to follow ${service.name} (cell.mods.yaml); ${migrated}`;
    }
    say(ctx.out, `[deploy/${phase.id}] ${already}${check.leaderIndex === undefined ? '' : ` at nexus index ${check.leaderIndex} (its files)`}; ${check.refused}: starting ${oldLeader.name} again as the leader`);
    const restarted = await startLeaderAgain();
    if (restarted !== null) {
      throw new SynupError('failed', `not promoting ${service.name}: ${check.refused}; starting ${oldLeader.name} again failed: ${restarted}`, { hint: `start ${oldLeader.name} (\`synup -c ${oldLeader.configFile} start\`): it is the leader and nothing was promoted; then \`synup deploy resume\`` });
    }
    say(ctx.out, `[deploy/${phase.id}] ${oldLeader.name} leads again (${leaderVersion}); promoting ${service.name} from the start`);
  }

  const gate = await interruptibleWait(signal, untouched, () => waitCaughtUp(commands, mirrorSession, leaderSession, signal));
  stopIfInterrupted(signal, untouched);
  // The reader of the leader's files starts now and reads once it stopped; the mirrors' indexes are read while it
  // stops (an index only grows: one that already reaches the stopped leader's is enough). Both off the no-leader time.
  const leaderFiles = prepareNexusRead(leaderSession.cellDir);
  const stopping = Date.now();
  const early = mirrorsIndexes();
  let cutShort = false;
  try {
    // As after a graceful hand-off: once its data is closed (on disk), the rest of its exit is not waited out.
    cutShort = (await leaderSession.adapter.stop({ timeoutMs: leaderSession.config.service.stopTimeout, untilDataClosed: true })).cutShortAfterDataClosed === true;
  } catch (error) {
    leaderFiles.cancel();
    throw error;
  }
  const stoppedMs = Date.now() - stopping;
  crashPoint(`${phase.id}@leader-stopped`);
  const checking = Date.now();
  const check = await checkNothingLost(commands, { service, mirrorSession, oldLeader, leaderFiles, others, early, answeredIndex: gate.leaderIndex });
  const checkMs = Date.now() - checking;
  if ('refused' in check) {
    const restarting = Date.now();
    const restarted = await startLeaderAgain();
    const noLeaderMs = stoppedMs + checkMs + (Date.now() - restarting);
    if (restarted !== null) throw new SynupError('failed', `not promoting ${service.name}: ${check.refused}; starting ${oldLeader.name} again failed: ${restarted}`, { hint: `start ${oldLeader.name} (\`synup -c ${oldLeader.configFile} start\`): it is the leader and nothing was promoted` });
    throw new SynupError('failed', `not promoting ${service.name}: ${check.refused}; ${oldLeader.name} leads again (started at ${leaderVersion}, no leader for ${noLeaderMs} ms), nothing was promoted`, {
      hint: `\`synup deploy resume\` retries the promotion; if writers keep landing on ${oldLeader.name} as it stops, stop them for the promotion`,
    });
  }
  const promoteMs = await promote(commands, session);
  crashPoint(`${phase.id}@promoted`);
  run.leaders[phase.peer!] = service.name;
  setMirrorOf(leaderSession.cellDir, service.url!);
  const migrated = await p.migratedWait();
  const stopText = `${stoppedMs} ms${cutShort ? ' (its data closed, the rest of its exit cut short)' : ''}`;
  return `${warmText}${service.name} had ${phase.peer}'s nexus index ${gate.leaderIndex} before the stop; ${phase.peer} stopped in ${stopText} at nexus index ${check.leaderIndex} (its files), ${service.name} has ${check.mirrorIndex}: checked in ${checkMs} ms; ${service.name} promoted (failure mode) in ${promoteMs} ms: no leader for ${stoppedMs + checkMs + promoteMs} ms; ${phase.peer} set to follow ${service.name} (cell.mods.yaml); ${migrated}`;
}


/** How long a mirror may take, once its leader stopped, to apply entries it received just before. */
const SETTLE_AFTER_STOP_MS = 1000;

/**
 * Failure mode, the leader just stopped: does the mirror about to be promoted hold every entry of the stopped
 * leader's nexus log (its final index, read from its files) and of every other mirror? `early`: the mirrors' indexes
 * read while the leader stopped (null: no answer), re-read when short or missing. Reads no more than needed: the
 * leader is down meanwhile.
 */
async function checkNothingLost(
  commands: MirrorCommands,
  lane: { service: DeploymentService; mirrorSession: CellSession; oldLeader: DeploymentService; leaderFiles: PreparedNexusRead; others: { name: string; session: CellSession }[]; early: Promise<(number | null)[]>; answeredIndex: number | null },
): Promise<{ leaderIndex: number; mirrorIndex: number } | { refused: string; leaderIndex?: number }> {
  const { service, oldLeader } = lane;
  const [final, [earlyMirror, ...earlyOthers]] = await Promise.all([lane.leaderFiles.read().catch((error: unknown) => errorMessage(error)), lane.early]);
  if (typeof final === 'string') return { refused: `the stopped ${oldLeader.name}'s nexus index could not be read from its files (${final})` };
  const answered = lane.answeredIndex;
  const holders: IndexHolder[] = [{ index: Math.max(final.index, answered ?? 0), text: `${oldLeader.name} stopped at ${final.index} (its files${answered === null ? '' : `; it answered ${answered} before the stop`})` }];
  for (const [i, other] of lane.others.entries()) {
    const index = earlyOthers[i] ?? (await nexusIndex(commands, other.session).catch(() => null));
    if (index === null) return { refused: `the other mirror ${other.name} did not answer its nexus index, so synup cannot tell it holds no entry ${service.name} lacks`, leaderIndex: final.index };
    holders.push({ index, text: `the other mirror ${other.name} at ${index}` });
  }
  const deadline = Date.now() + SETTLE_AFTER_STOP_MS;
  let mirrorIndex = earlyMirror;
  while (mirrorIndex === null || promotionShortfall(service.name, mirrorIndex, holders) !== null) {
    if (Date.now() > deadline) break;
    if (mirrorIndex !== null) await sleep(100);
    mirrorIndex = (await nexusIndex(commands, lane.mirrorSession).catch(() => null)) ?? mirrorIndex;
  }
  if (mirrorIndex === null) return { refused: `${service.name} did not answer its nexus index after ${oldLeader.name} stopped`, leaderIndex: final.index };
  const shortfall = promotionShortfall(service.name, mirrorIndex, holders);
  return shortfall ? { refused: shortfall, leaderIndex: final.index } : { leaderIndex: final.index, mirrorIndex };
}

/**
 * After a graceful hand-off the old leader follows a newer leader in read-only mode: a write that reached it during the
 * hand-off was forwarded to the new leader, but its answer waits for the old leader's exit (Synapse holds it up to
 * 30 s, FOLLOWER_WRITE_WAIT_S). So it is stopped at once, and its exit is not waited out once its data is closed (a
 * Cortex then lingers up to ~1 s on its drive workers). Says how long the stop took.
 */
async function stopOldLeader(ctx: CommandContext, oldLeader: DeploymentService): Promise<string> {
  const session = sessionOf(ctx, oldLeader, 'mirror');
  const { durationMs, cutShortAfterDataClosed } = await session.adapter.stop({ timeoutMs: session.config.service.stopTimeout, untilDataClosed: true });
  return `${durationMs} ms${cutShortAfterDataClosed ? ' (its data closed, the rest of its exit cut short)' : ''}`;
}

/**
 * The single-cell upgrade (`synup upgrade`'s module entry) for one service, in the role the phase needs. A single-cell
 * run of that service left unfinished (synup was killed during it) is resumed instead (`synup resume`): it ends fully
 * upgraded or rolled back, never started over on top of a half-done one.
 */
async function upgradeService(ctx: CommandContext, phase: Phase, service: DeploymentService, to: string, options: DeployOptions): Promise<string> {
  const role = phase.role;
  const sctx = serviceContext(ctx, service, role);
  const cellDir = openCellSession(sctx.config(), { allowMissing: true }).cellDir;
  const interrupted = await unfinishedCellRun(sctx.stateDir(), cellDir);
  if (interrupted && interrupted.to !== to) {
    throw new SynupError('refused', `${service.name} has an unfinished upgrade run ${interrupted.id} to ${interrupted.to}, not ${to}`, { hint: `finish it first: \`synup -c ${service.configFile} resume\`` });
  }
  const before = interrupted?.from ?? (await readCellInfo(cellDir)).cellVersion;
  if (!interrupted && before === to) return `already at ${to}`;
  stopIfInterrupted(options.signal, `${service.name} was not touched (at ${before})`);
  // Its own run traps the signal too (nested, see trapInterrupts): before the stop it ends with nothing done, after
  // it rolls back; either way the service is as it was.
  let code: number;
  try {
    if (interrupted) {
      say(ctx.out, `[deploy/${phase.id}] ${service.name}'s upgrade run ${interrupted.id} (${interrupted.from} → ${interrupted.to}) did not finish (${interrupted.outcome}): resuming it`);
      code = await withCrashScope(service.name, () => options.resumeCell(sctx));
    } else {
      code = await withCrashScope(service.name, () => options.upgradeCell(sctx, { to, yes: true, backup: options.makeBackup }));
    }
  } catch (error) {
    if (error instanceof Interrupted) throw new Interrupted(error.signalName, `interrupted by ${error.signalName}: ${service.name}'s upgrade stopped before any downtime; it runs ${before} as before`);
    throw error;
  }
  if (options.signal?.aborted && code !== 0) throw new Interrupted((options.signal.reason as Interrupted).signalName, `${(options.signal.reason as Interrupted).message}: ${service.name}'s upgrade was rolled back; it is at ${before} again`);
  if (code === 4) throw new RolledBack(`${service.name}: the upgrade to ${to} failed and was rolled back; ${service.name} is at ${before} again`);
  if (code !== 0) throw new SynupError('failed', `${service.name}: the upgrade to ${to} ended with exit ${code}`);
  return `${service.name} ${before} → ${to}${interrupted ? ` (its interrupted run ${interrupted.id} resumed)` : ''}${role === 'mirror' ? ' (as a mirror: ready, passive)' : ''}`;
}

/**
 * The new leader after a promotion: active, and the migrations it starts (storage, then model) finished — seen in
 * its log since the promotion. Never concluded from a quiet log (issue 20: a tool's stream lags, and a leader with
 * clients logs every request): once active, the log must have been read up to that moment (`followBootLog`), then
 * any migration begun must have logged its end. Synapse schedules its migration task inside `setCellActive`, before
 * the promote call returns, and the task logs `beginning model migration` before its first wait on anything, so a
 * migration that runs has logged its begin by the time the promotion returned and the leader answered active.
 */
export async function waitLeaderMigrated(session: CellSession, since: Date, signal?: AbortSignal): Promise<string> {
  const deadline = Date.now() + session.config.health.startTimeout;
  const boot = newMigrationState();
  let seen = 0;
  const log = followBootLog(session.adapter, {
    since,
    onLine(text) {
      const event = classifyLogLine(text);
      if (!event) return;
      observe(boot, event);
      if (event.kind === 'storage-migration-begin' || event.kind === 'model-migration-begin') seen++;
    },
  });
  try {
    const timeout = AbortSignal.timeout(session.config.health.startTimeout + 5000);
    await session.health.waitForActive({ deadlineMs: session.config.health.startTimeout, signal: signal ? AbortSignal.any([timeout, signal]) : timeout });
    const activeAt = Date.now();
    let readPastActive = false;
    const running = () => boot.storageBegun > boot.storageCompleted || boot.model === 'running';
    while (!(readPastActive ||= await log.readPast(activeAt)) || running()) {
      signal?.throwIfAborted();
      if (Date.now() > deadline) throw new SynupError('failed', `${session.cellName} is active but its migrations did not finish within ${session.config.health.startTimeout} ms of the promotion`);
      await sleep(readPastActive ? 250 : 50);
    }
  } finally {
    await log.stop();
  }
  if (log.error !== null && seen === 0) return `active; its log could not be read (${log.error}): whether a migration ran is not known`;
  return seen ? `active; ${seen} migration step(s) ran on the new leader and finished` : 'active; no migration ran';
}
