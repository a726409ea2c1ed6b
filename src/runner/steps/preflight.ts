import { existsSync } from 'node:fs';
import { mkdir, rmdir, statfs, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, SynupError } from '../../errors.js';
import { runDirs } from '../../siblings.js';
import { formatBytes, formatDuration } from '../../units.js';
import type { Step, StepContext } from '../context.js';

/** The checks of this step an operator can skip deliberately with `--ignore-preflight=<name>` (no step can be skipped). */
export const PREFLIGHT_CHECKS = ['data-version', 'service-version', 'free-space', 'same-filesystem', 'ownership', 'clean-impact'] as const;
type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];
/**
 * A cell on a volume: data-version and free-space are checked by its cell-info Job once no pod is left
 * (steps/remote-data.ts); same-filesystem and ownership do not apply (the Job copies inside the volume, as the
 * workload's user).
 */
const ON_VOLUME: readonly PreflightCheck[] = ['data-version', 'free-space'];
const NOT_ON_VOLUME: readonly PreflightCheck[] = ['same-filesystem', 'ownership'];

function check(ctx: StepContext, name: PreflightCheck, failed: string | null, hint: string): void {
  if (!failed) return;
  if (ctx.options.ignorePreflight.includes(name)) {
    ctx.progress(`[WARNING ${name}] ${failed} (ignored by --ignore-preflight=${name})`);
    return;
  }
  throw new SynupError('refused', `[ERROR ${name}] ${failed}`, { hint: `${hint}; or skip this check with --ignore-preflight=${name}` });
}

/** Refused, never skippable: acting on a guess here leaves the cell down. */
function refuse(name: string, message: string, hint: string): never {
  throw new SynupError('refused', `[ERROR ${name}] ${message}; nothing was stopped`, { hint });
}

/**
 * The running service must be this cell before synup stops anything: its HTTPS API on health.port answers with the
 * certificate pinned to the cell's own sslcert.pem (or validated by health.ca), and reports a version if it will.
 */
async function proveServiceIsThisCell(ctx: StepContext): Promise<string | null> {
  if (ctx.config.health.check === 'tool') return proveByHealthTool(ctx);
  const { host, port, startTimeout } = ctx.config.health;
  const { baseUrl } = await import('../../health/tls.js');
  const deadline = Date.now() + startTimeout;
  let waiting = false;
  for (;;) {
    try {
      return await ctx.health.readVersion();
    } catch (error) {
      // Not answering yet (just started?): retried until health.startTimeout. A foreign certificate is final.
      const final = !(error instanceof SynupError) || error.code === 'refused' || Date.now() >= deadline || ctx.signal?.aborted;
      if (!final) {
        if (!waiting) ctx.progress(`the running service does not answer on ${baseUrl({ host, port })} yet (${errorMessage(error)}); retrying for up to ${formatDuration(startTimeout)} (health.startTimeout)`);
        waiting = true;
        await new Promise((resolve) => setTimeout(resolve, 250));
        continue;
      }
      return refuse('service-identity', `cannot prove the service on ${baseUrl({ host, port })} is this cell: ${errorMessage(error)}`,
        `check that health.host/health.port point at this cell's HTTPS API (its certificate: ${path.join(ctx.cellDir, 'sslcert.pem')}, or health.ca)`);
    }
  }
}

/**
 * health.check: tool — Synapse's healthcheck reaches the cell through its own Unix socket in the cell dir (or the
 * adapter's container), so a healthy answer is this cell's. Retried until health.startTimeout; it tells no version.
 */
async function proveByHealthTool(ctx: StepContext): Promise<null> {
  const deadline = Date.now() + ctx.config.health.startTimeout;
  for (let waiting = false; ; waiting = true) {
    const check = await ctx.health.check(ctx.plan.from);
    if (check.active) return null;
    if (check.final || Date.now() >= deadline || ctx.signal?.aborted) {
      return refuse('service-identity', `the running service does not answer the health check: ${check.detail}`, 'check health.tool in synup.yaml and the service log (`synup logs`)');
    }
    if (!waiting) ctx.progress(`the running service does not answer the health check yet (${check.detail}); retrying for up to ${formatDuration(ctx.config.health.startTimeout)} (health.startTimeout)`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/**
 * What the crossed changelog bullets touch in this cell (synup check), read before anything is stopped: through Storm
 * while the service runs, from its layer files otherwise. Printed as one line; with upgrade.requireCleanImpact (or
 * --require-clean-impact) deprecated usage in stored Storm, configuration or packages refuses the run (check
 * clean-impact, skippable by name). Without that, a report that cannot be made is a warning, never a refusal.
 */
async function checkImpact(ctx: StepContext, running: boolean): Promise<void> {
  const impact = ctx.options.impact;
  // Only a Cortex has layers (and Storm): an AHA, Axon or JsonStor has nothing this check reads.
  if (!impact || ctx.adapter.remoteData || !existsSync(path.join(ctx.cellDir, 'layers'))) return;
  const { from, to } = ctx.plan;
  const { impactOf } = await import('../impact.js');
  const { measuredBoots } = await import('../boot-measurements.js');
  const { impactSummaryLine } = await import('../../plan/impact-render.js');
  let report;
  try {
    const measured = await measuredBoots(ctx.stateDir, ctx.journal);
    report = await impactOf({ config: ctx.config, cellDir: ctx.cellDir, adapter: ctx.adapter }, { from, to, bullets: impact.bullets, running, signal: ctx.signal, measured });
  } catch (error) {
    if (!impact.require) {
      ctx.progress(`[WARNING impact] what ${from} → ${to} touches in this cell is not known: ${errorMessage(error)}`);
      return;
    }
    return check(ctx, 'clean-impact', `cannot tell what ${from} → ${to} touches in this cell: ${errorMessage(error)}`, 'fix the cause (`synup check --to ' + to + '` shows it)');
  }
  ctx.progress(`impact (${report.source === 'storm' ? 'Storm' : 'offline'}): ${impactSummaryLine(report)}`);
  // This boot, once measured, calibrates the next prediction of the same migrations (src/plan/boot-calibration.ts).
  const work = report.migrationEstimate.work;
  ctx.update((run) => {
    run.data.migrationWork = work;
  });
  const uses = [...report.code.map((h) => `${h.object.type} ${h.object.name} line ${h.line}: ${h.uses} (${h.bullet.version})`), ...report.config.map((c) => `${c.key} in ${c.where} (${c.bullet.version})`), ...report.packageKeys.map((k) => `package ${k.package} ${k.where}: ${k.key} (${k.bullet.version})`)];
  check(ctx, 'clean-impact', impact.require && !report.clean ? `this cell still uses what ${from} → ${to} deprecates: ${uses.slice(0, 5).join('; ')}${uses.length > 5 ? `; and ${uses.length - 5} more` : ''}` : null,
    `change what \`synup check --to ${to}\` names, then upgrade`);
}

/** With the service stopped, its port must be free, or the new version (and then the old one) could not bind. */
async function assertPortFree(ctx: StepContext): Promise<void> {
  const { host, port } = ctx.config.health;
  const { isListening } = await import('../../health/port.js');
  if (await isListening(host, port)) {
    refuse('port', `the service is stopped but something else listens on ${host}:${port} (health.port): the new version could not bind it`,
      'stop whatever listens there, or fix health.port');
  }
}

/** Both versions must be startable (the new one now, the old one for a rollback): binaries, command, version syntax. */
function assertStartable(ctx: StepContext, from: string, to: string): void {
  for (const version of [to, from]) {
    try {
      ctx.adapter.checkStart?.(version);
    } catch (error) {
      refuse('start-command', `${ctx.adapter.name} adapter cannot start ${version}: ${errorMessage(error)}`, error instanceof SynupError && error.hint ? error.hint : 'fix service.* in synup.yaml');
    }
  }
}

/** The swap creates dirs beside the cell: prove now that it can (EACCES, EROFS, immutable dir), not after stop. */
async function assertCanStageBeside(ctx: StepContext, parent: string): Promise<void> {
  const probe = `${runDirs(ctx.cellDir, ctx.run.id).staging}.probe`;
  try {
    await mkdir(probe, { mode: 0o700 });
    await rmdir(probe);
  } catch (error) {
    refuse('staging-dir', `cannot create ${probe} beside the cell (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}): the defragmented copy and the swap need write access to ${parent}`,
      `give synup write access to ${parent} (it renames the cell dir there)`);
  }
}

/** Room and rights for the compacted copy and the swap beside a local cell dir. */
async function assertLocalRoom(ctx: StepContext): Promise<{ ino: number; needed: number; free: number }> {
  const parent = path.dirname(ctx.cellDir);
  const [cellStat, parentStat] = await Promise.all([stat(ctx.cellDir), stat(parent)]);
  check(ctx, 'same-filesystem', cellStat.dev !== parentStat.dev ? `${ctx.cellDir} is a mount point: staging in ${parent} would be on another filesystem, so the swap could not be a rename` : null,
    'mount the filesystem one level up (e.g. /data, with the cell in /data/cortex00)');

  await assertCanStageBeside(ctx, parent);

  const { estimateCompactedBytes } = await import('../estimate.js');
  const needed = await estimateCompactedBytes(ctx.cellDir);
  const margin = Math.ceil(needed * ctx.config.upgrade.freeSpaceMargin);
  const fs = await statfs(parent);
  const free = fs.bavail * fs.bsize;
  check(ctx, 'free-space', free < needed + margin ? `${formatBytes(free)} free on the cell's filesystem, the compacted copy needs up to ${formatBytes(needed)} + ${formatBytes(margin)} margin` : null,
    'free space next to the cell dir (old synup dirs: `synup prune`)');
  return { ino: cellStat.ino, needed, free };
}

export const preflight: Step = {
  name: 'preflight',
  title: 'Preflight checks',
  describe: (p) =>
    p.settings?.dataOnVolume
      ? `Take synup's run lock for this cell (in the state dir), read the starting version from the workload's image tag (must be ${p.from}), list the ${p.migrations.length} migration(s) up to ${p.to}, check the workload (Helm, probe budget) and that the new image can start; the data's own version and the free space on the volume are checked by a Job once no pod is left (step cold-defrag).`
      : `Lock the cell${p.dir ? ` ${p.dir}` : ''}, read its version from slabs/cell.lmdb (must be ${p.from}), list the ${p.migrations.length} migration(s) up to ${p.to}, check free space for the compacted copy${p.settings ? ` plus a ${Math.round(p.settings.freeSpaceMargin * 100)}% margin` : ''} that staging is on the same filesystem, and that synup can keep the owner, group and mode of every file it copies.`,
  async run(ctx) {
    const { from, to } = ctx.plan;
    // Data on a volume synup cannot see (Kubernetes PVC): read by a Job once the pod is gone (cold-defrag step).
    const remote = ctx.adapter.remoteData;
    const { ownershipProblem } = await import('../../backup/owners.js');
    const { readCellInfo } = await import('../../lmdb/cellinfo.js');
    if (!remote) check(ctx, 'ownership', await ownershipProblem(ctx.cellDir), 'run synup as root (or as the user owning every file of the cell), so the defragmented copy keeps the owners the service needs');
    const info = remote ? null : await readCellInfo(ctx.cellDir);
    if (info) {
      check(ctx, 'data-version', info.cellVersion !== from ? `the cell's data says version ${info.cellVersion ?? 'unknown'}, the plan starts from ${from}` : null,
        'make the plan from the cell (omit --from) or check --dir points at the right cell');
    }
    if (remote && ctx.config.health.check !== 'tool') {
      refuse('health-check', `health.check is ${ctx.config.health.check}, but ${await remote.describe()} is in a cluster: ${ctx.config.health.host}:${ctx.config.health.port} is not the pod, and its certificate is on the volume`,
        "set health.check: tool (Synapse's healthcheck through `kubectl exec`)");
    }

    const status = await ctx.adapter.status();
    ctx.update((run) => {
      run.data.wasRunning ??= status.running;
    });
    if (status.running) {
      const running = await proveServiceIsThisCell(ctx);
      check(ctx, 'service-version', running && running !== from ? `the running service reports ${running}, its data says ${from}` : null,
        'the service and its data disagree; find out why before upgrading');
    }
    if (!status.running && ctx.config.health.check === 'https') await assertPortFree(ctx);
    await checkImpact(ctx, status.running);
    assertStartable(ctx, from, to);
    const room = remote ? null : await assertLocalRoom(ctx);

    // Last, once every check passed: fetching the new version is slow and needs no downtime.
    const prepared = ctx.run.data.prepared ?? (await ctx.adapter.prepare?.(to));
    if (prepared) ctx.progress(`pulled ${prepared.image}${prepared.digests.length ? ` (${prepared.digests.join(', ')})` : ''}`);

    ctx.update((run) => {
      if (room) {
        run.data.origIno = room.ino;
        run.data.estimateBytes = room.needed;
      }
      if (prepared) run.data.prepared = prepared;
    });
    ctx.progress(room
      ? `cell ${info?.guid ?? '?'} at ${from} → ${to}; ${ctx.plan.migrations.length} migration(s); ${formatBytes(room.free)} free, needs ≤ ${formatBytes(room.needed)}`
      : `cell on ${await remote!.describe()} at ${from} (its image) → ${to}; ${ctx.plan.migrations.length} migration(s); its data is read, backed up and defragmented by Jobs once the pod is gone`);
  },
  dryRun(ctx) {
    return [
      ...(ctx.adapter.remoteData
        ? [
            `Would take synup's run lock for this cell in ${ctx.stateDir} and read the starting version from ${ctx.adapter.remoteData.owner}'s image tag v${ctx.plan.from}`,
            `Would check: ${PREFLIGHT_CHECKS.filter((c) => !ctx.options.ignorePreflight.includes(c) && !ON_VOLUME.includes(c) && !NOT_ON_VOLUME.includes(c)).join(', ')} now; ${ON_VOLUME.filter((c) => !ctx.options.ignorePreflight.includes(c)).join(', ')} by the cell-info Job once no pod is left`,
          ]
        : [
            `Would lock ${ctx.cellDir} for this run and read its version from slabs/cell.lmdb (cell:info)`,
            `Would check: ${PREFLIGHT_CHECKS.filter((c) => !ctx.options.ignorePreflight.includes(c)).join(', ')}`,
          ]),
      ...(ctx.adapter.prepare ? [`Would fetch ${ctx.plan.to} where the service runs (${ctx.adapter.name}: pull the image) before any downtime, and record its digest`] : []),
    ];
  },
};
