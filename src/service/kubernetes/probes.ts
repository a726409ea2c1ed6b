import type { Container, Probe } from './workload.js';

/**
 * No surprise restarts: the pod template changes only while the workload is scaled to 0, in the one patch that sets
 * the new image. Instead of removing the probes (and putting them back later, which would roll the running pod), a
 * startup budget is made long enough for the upgrade's boot: a running startupProbe holds the livenessProbe off, so
 * a long migration is not killed, and nothing has to change after `confirm`. The budget stays in the template
 * (Vertex's own example uses failureThreshold 2147483647); the original probes are in the journal.
 */

/** Annotation on the workload (metadata, not the pod template: setting it restarts nothing) carrying the budget. */
export const BUDGET_ANNOTATION = 'synup.vertex.link/startup-budget-seconds';

/** How long a startupProbe lets a container boot before the kubelet kills it. */
export function startupBudgetSeconds(probe: Probe | undefined): number {
  if (!probe) return 0;
  return (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
}

/**
 * The startupProbe the new pod needs to survive `budgetSeconds` of boot, or null when the template already allows
 * it (or has no liveness to fear: without a livenessProbe nothing kills a slow boot).
 */
export function widenedStartupProbe(container: Container, budgetSeconds: number): Probe | null {
  const startup = container.startupProbe;
  if (startupBudgetSeconds(startup) >= budgetSeconds) return null;
  if (!startup && !container.livenessProbe) return null;
  const base: Probe = startup ?? { ...container.livenessProbe, initialDelaySeconds: undefined };
  const period = base.periodSeconds ?? 10;
  const delay = base.initialDelaySeconds ?? 0;
  return JSON.parse(JSON.stringify({ ...base, periodSeconds: period, failureThreshold: Math.ceil(Math.max(0, budgetSeconds - delay) / period) + 1 })) as Probe;
}
