import { refusal } from '../../errors.js';
import type { Workload } from './workload.js';

export interface HelmSettings {
  /** The chart to upgrade the release with (a repo/chart reference or a path); unset = refuse Helm-managed workloads. */
  chart: string | null;
  /** The values key holding the image tag, e.g. image.tag. */
  imageKey: string;
  /** Its value; `{version}` is the Synapse version (2.250.0). */
  imageValue: string;
  /** `helm upgrade --version` of the chart (default: what the repo resolves). */
  chartVersion: string | null;
}

/** The Helm release managing a workload, from the labels/annotations Helm 3 sets; null when Helm does not manage it. */
export function helmRelease(workload: Workload): string | null {
  const labels = workload.metadata?.labels ?? {};
  const annotations = workload.metadata?.annotations ?? {};
  const release = annotations['meta.helm.sh/release-name'] ?? null;
  if (release) return release;
  if (labels['app.kubernetes.io/managed-by'] === 'Helm') return labels['app.kubernetes.io/instance'] ?? labels.release ?? '<unknown release>';
  return null;
}

/** Refuses (exit 3) a Helm-managed workload synup was not told how to upgrade: `kubectl set image` would drift. */
export function requireHelmChart(target: string, release: string, helm: HelmSettings): string {
  if (helm.chart) return helm.chart;
  throw refusal(
    `${target} is managed by Helm (release ${release}): changing its image with kubectl would drift from the chart, and the next \`helm upgrade\` would put the old version back (Synapse then refuses to boot)`,
    `set service.kubernetes.helm.chart (and helm.imageKey, default image.tag) so synup runs \`helm upgrade ${release} <chart> --reuse-values --set <imageKey>=v<version>\`, or upgrade with Helm yourself`,
  );
}

/** `helm upgrade` of the release to `version`, keeping every other value as deployed. */
export function helmUpgradeArgv(options: { release: string; namespace: string; context: string | null; helm: HelmSettings; chart: string; version: string }): string[] {
  const { helm } = options;
  return [
    'helm',
    ...(options.context ? ['--kube-context', options.context] : []),
    'upgrade',
    options.release,
    options.chart,
    '--namespace',
    options.namespace,
    '--reuse-values',
    ...(helm.chartVersion ? ['--version', helm.chartVersion] : []),
    '--set-string',
    `${helm.imageKey}=${helm.imageValue.replaceAll('{version}', options.version)}`,
  ];
}
