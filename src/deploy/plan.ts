import type { ImpactReport } from '../plan/impact.js';
import type { Migration } from '../changelog/index.js';
import { formatDuration } from '../units.js';
import { ONLINE_CUTOVER_SECONDS, type DefragChoice, type DowntimeEstimate, type PlanDocument, type PlannedStep } from '../plan/index.js';
import { TIERS, tierOf, type Deployment, type DeploymentService, type ServiceKind } from './file.js';

/** One action of the deployment runner; `service` is the one it acts on. */
export type PhaseKind = 'upgrade' | 'upgrade-mirror' | 'catch-up' | 'promote' | 'follow-new-leader' | 'upgrade-old-leader';

export interface Phase {
  /** Stable id in the deployment journal: `<kind>:<service>`. */
  id: string;
  kind: PhaseKind;
  service: string;
  /** The service it follows or hands over to, for catch-up and promote. */
  peer: string | null;
  /** The role the single-cell upgrade runs the service in: a mirror is ready when it answers, never "active". */
  role: 'leader' | 'mirror';
  description: string;
}

/** Services upgraded together as one sequence: a standalone service, or a leader with its mirrors. */
export interface Lane {
  services: string[];
  mirrored: boolean;
  phases: Phase[];
}

export interface ServicePlan {
  name: string;
  kind: ServiceKind;
  tier: number;
  role: 'standalone' | 'leader' | 'mirror';
  mirrorOf: string | null;
  mirrors: string[];
  /** A leader's mirror that is promoted; null on any other service. */
  promoted: string | null;
  cellDir: string;
  adapter: string;
  from: string;
  to: string;
  changelog: string;
  migrations: Pick<Migration, 'version' | 'text' | 'warning'>[];
  warnings: string[];
  /** The single-cell steps, as `synup plan` shows them for this service. */
  steps: PlannedStep[];
  downtime: { clientVisible: string; estimate: DowntimeEstimate | null };
  /** What the upgrade touches in this service (synup check), with `deploy plan --impact`; null otherwise or not a Cortex. */
  impact: ServiceImpact | null;
  /** Which defrag its upgrade will do and why; null when it is already at its target. */
  defrag: DefragChoice | null;
}

/** A Cortex's impact report, or why it could not be made (the plan goes on: a stopped or unreachable service says so). */
export type ServiceImpact = { report: ImpactReport } | { error: string };

export interface DeploymentPlan {
  deployment: string;
  file: string;
  services: ServicePlan[];
  /** The devops guide's order; lanes of one tier are independent and may run in parallel, tiers never. */
  tiers: { title: string; lanes: Lane[] }[];
  notes: string[];
}

export interface ServiceInput {
  service: DeploymentService;
  cellDir: string;
  from: string;
  to: string;
  changelog: string;
  /** The single-cell plan and its steps; null when the service is already at its target. */
  plan: PlanDocument | null;
  impact?: ServiceImpact | null;
}

const phase = (kind: PhaseKind, service: string, peer: string | null, role: Phase['role'], description: string): Phase => ({ id: `${kind}:${service}`, kind, service, peer, role, description });

/**
 * The lane of a leader and its mirrors: the devops guide's "Low Downtime Updates". Every mirror is upgraded and caught
 * up, one is promoted, every other mirror follows the new leader and has caught up with it before the old leader (the
 * last copy of the pre-promotion data) goes down for its own upgrade.
 */
function mirroredPhases(leader: DeploymentService, mirrors: DeploymentService[], to: (name: string) => string, promotion: 'graceful' | 'failure'): Phase[] {
  const promoted = mirrors.find((m) => m.name === leader.promoted)!;
  const phases: Phase[] = [];
  for (const m of mirrors) {
    phases.push(phase('upgrade-mirror', m.name, leader.name, 'mirror', `Upgrade mirror ${m.name} to ${to(m.name)} (backup gate, stop, cold defrag, start); ready when it answers as a passive mirror, not "active". Runs no migration: it still follows ${leader.name}.`));
    phases.push(phase('catch-up', m.name, leader.name, 'mirror', `Wait until ${m.name}'s nexus index reaches ${leader.name}'s (read just before): caught up with every write.`));
  }
  const p = promoted.name;
  const warm = promoted.kind === 'cortex' ? `Warm ${p}'s Storm (one version read; it must answer ${to(p)}): a Cortex starts its Storm parser pool on its first query, which would otherwise hold the first writes after the promotion. ` : '';
  phases.push(
    promotion === 'graceful'
      ? phase('promote', p, leader.name, 'leader', `${warm}Promote ${p} (graceful hand-off): ${leader.name} stops taking writes, ${p} catches up to its last nexus entry and becomes the leader, ${leader.name} becomes its mirror and is stopped until its upgrade. Then wait until ${p} is active and its migrations are done. Writers see only the hand-off.`)
      : phase('promote', p, leader.name, 'leader', `${warm}Promote ${p} (failure mode, no AHA): wait until ${p} has ${leader.name}'s last nexus entry, stop ${leader.name}, check that ${p} has every entry in ${leader.name}'s files (else start ${leader.name} again as the leader and stop here), promote ${p}, point ${leader.name} at ${p} (mirror: in its cell.mods.yaml). Then wait until ${p} is active and its migrations are done. No leader from the stop until the promotion.`),
  );
  for (const m of mirrors.filter((x) => x !== promoted)) {
    phases.push(
      promotion === 'graceful'
        ? phase('follow-new-leader', m.name, p, 'mirror', `${m.name} follows the leader by its AHA name, now ${p}: wait until its nexus index reaches ${p}'s (read just before).`)
        : phase('follow-new-leader', m.name, p, 'mirror', `Point ${m.name} at the new leader ${p} (mirror: in its cell.mods.yaml), restart it (already at ${to(m.name)}), wait until its nexus index reaches ${p}'s (read just before).`),
    );
  }
  phases.push(phase('upgrade-old-leader', leader.name, p, 'mirror', `Upgrade the old leader ${leader.name} to ${to(leader.name)} as a mirror of ${p}; it replicates the migrations from the new leader.`));
  phases.push(phase('catch-up', leader.name, p, 'mirror', `Wait until ${leader.name}'s nexus index reaches ${p}'s.`));
  return phases;
}

function clientDowntime(s: DeploymentService, estimate: DowntimeEstimate | null, promotion: 'graceful' | 'failure', defrag: DefragChoice | undefined): string {
  const online = defrag?.mode === 'online';
  const defragText = online ? `online defrag (the shadow swap, ~${formatDuration(ONLINE_CUTOVER_SECONDS * 1000)})` : estimate ? `cold defrag (~${formatDuration(estimate.defragSeconds * 1000)})` : 'cold defrag';
  const single = `stop + ${defragText} + first boot${estimate ? ` (${estimate.bootSeconds === null ? 'unknown until rehearsed' : `~${formatDuration(estimate.bootSeconds * 1000)}`})` : ''}`;
  const window = promotion === 'graceful' ? "writes pause while the mirror takes the leader's last entries" : "from the leader's stop until the mirror is promoted";
  if (s.mirrors.length) return `the promotion only (${window}); without mirrors it would be ${single}`;
  if (s.mirrorOf) return `none for writers (they use the leader); readers pinned to this mirror: ${single}`;
  return single;
}

/** deployment + one single-cell plan per service → the whole deployment's order, lanes and phases. */
export function buildDeploymentPlan(deployment: Deployment, inputs: ServiceInput[], estimates: Map<string, DowntimeEstimate | null>): DeploymentPlan {
  const byName = new Map(inputs.map((i) => [i.service.name, i]));
  const to = (name: string) => byName.get(name)!.to;
  const services: ServicePlan[] = inputs.map(({ service: s, plan, cellDir, from, to: target, changelog, impact }) => ({
    name: s.name,
    kind: s.kind,
    tier: tierOf(s.kind),
    role: s.mirrorOf ? 'mirror' : s.mirrors.length ? 'leader' : 'standalone',
    mirrorOf: s.mirrorOf,
    mirrors: s.mirrors,
    promoted: s.promoted,
    cellDir,
    adapter: s.config.service.adapter,
    from,
    to: target,
    changelog,
    migrations: (plan?.migrations ?? []).map((m) => ({ version: m.version, text: m.text, warning: m.warning })),
    warnings: plan?.warnings ?? [],
    steps: plan?.steps ?? [],
    downtime: plan
      ? { clientVisible: clientDowntime(s, estimates.get(s.name) ?? null, deployment.mirror?.promotion ?? 'graceful', plan.defrag), estimate: estimates.get(s.name) ?? null }
      : { clientVisible: 'none: already at its target version', estimate: null },
    impact: impact ?? null,
    defrag: plan?.defrag ?? null,
  }));

  const order = inputs.map((i) => i.service.name);
  services.sort((a, b) => a.tier - b.tier || order.indexOf(a.mirrorOf ?? a.name) - order.indexOf(b.mirrorOf ?? b.name) || (a.mirrorOf ? -1 : 1) - (b.mirrorOf ? -1 : 1));

  const tiers = TIERS.map((t, tier) => {
    const lanes: Lane[] = [];
    for (const s of deployment.services.filter((x) => tierOf(x.kind) === tier && !x.mirrorOf)) {
      if (!s.mirrors.length) {
        lanes.push({ services: [s.name], mirrored: false, phases: [phase('upgrade', s.name, null, 'leader', `Upgrade ${s.name} to ${to(s.name)}: the ten steps of \`synup upgrade\`, rolled back on failure.`)] });
        continue;
      }
      const mirrors = s.mirrors.map((m) => byName.get(m)!.service);
      lanes.push({ services: [s.name, ...s.mirrors], mirrored: true, phases: mirroredPhases(s, mirrors, to, deployment.mirror?.promotion ?? 'graceful') });
    }
    return { title: t.title, lanes };
  }).filter((t) => t.lanes.length > 0);

  const notes: string[] = [];
  for (const s of services.filter((x) => x.from === x.to)) notes.push(`${s.name} is already at ${s.to}: its upgrade phases are skipped.`);
  if (services.every((s) => s.from === s.to)) notes.push('Every service is already at its target version: nothing to do.');
  for (const s of services.filter((x) => x.from !== x.to && x.mirrorOf)) {
    const leader = services.find((l) => l.name === s.mirrorOf)!;
    if (leader.from !== s.from) notes.push(`${s.name} is at ${s.from} but its leader ${leader.name} is at ${leader.from}: a mirror normally runs its leader's version.`);
  }
  return { deployment: deployment.name, file: deployment.file, services, tiers, notes };
}
