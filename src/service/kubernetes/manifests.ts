import type { VolumeJobOp } from '../../volume/result.js';
import type { Workload } from './workload.js';

/** Labels on everything synup creates in the cluster: what synup may delete, and nothing else. */
export const SYNUP_LABELS = { 'app.kubernetes.io/managed-by': 'synup', 'app.kubernetes.io/name': 'synup' } as const;

/** Where the Job mounts the backup claim. */
const BACKUP_MOUNT_PATH = '/synup/backups';

interface VolumeJobSpec {
  name: string;
  namespace: string;
  image: string;
  /** The workload this Job works for (a label, so `kubectl get jobs -l` finds its Jobs). */
  workload: string;
  op: VolumeJobOp;
  args: string[];
  cellName: string;
  /** The cell's claim and where the Synapse container mounts it (same path and subPath in the Job). */
  claim: string;
  mountPath: string;
  subPath: string | null;
  backupClaim: string | null;
  /** The node the old pod ran on: preferred (not required), so the scheduler still honours the volume's topology. */
  preferredNode: string | null;
  /** Copied from the workload: the Job must be the user that owns the data, and may schedule where Synapse may. */
  pod: Pick<NonNullable<NonNullable<NonNullable<Workload['spec']>['template']>['spec']>, 'securityContext' | 'nodeSelector' | 'tolerations' | 'imagePullSecrets'>;
  containerSecurityContext: Record<string, unknown> | undefined;
  deadlineSeconds: number;
}

const defined = <T extends Record<string, unknown>>(value: T) => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;

/** The batch/v1 Job that runs `synup volume-job <op>` on the cell's volume (and the backup volume when named). */
export function volumeJobManifest(spec: VolumeJobSpec): Record<string, unknown> {
  const labels = { ...SYNUP_LABELS, 'synup.vertex.link/workload': spec.workload, 'synup.vertex.link/op': spec.op };
  const env = [
    { name: 'SYNUP_CELL_DIR', value: spec.mountPath },
    { name: 'SYNUP_CELL_NAME', value: spec.cellName },
    ...(spec.backupClaim ? [{ name: 'SYNUP_BACKUP_DIR', value: BACKUP_MOUNT_PATH }] : []),
  ];
  const volumeMounts = [
    defined({ name: 'cell', mountPath: spec.mountPath, subPath: spec.subPath ?? undefined }),
    ...(spec.backupClaim ? [{ name: 'backups', mountPath: BACKUP_MOUNT_PATH }] : []),
  ];
  const volumes = [
    { name: 'cell', persistentVolumeClaim: { claimName: spec.claim } },
    ...(spec.backupClaim ? [{ name: 'backups', persistentVolumeClaim: { claimName: spec.backupClaim } }] : []),
  ];
  const affinity = spec.preferredNode
    ? { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [spec.preferredNode] }] } }] } }
    : undefined;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: spec.name, namespace: spec.namespace, labels },
    spec: {
      // A failed op is reported and decided on by synup (roll back), never retried on the data by the controller.
      backoffLimit: 0,
      activeDeadlineSeconds: spec.deadlineSeconds,
      // Removed by synup once its result is read; a day later by the cluster if synup died first.
      ttlSecondsAfterFinished: 86_400,
      template: {
        metadata: { labels },
        spec: defined({
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...spec.pod,
          affinity,
          containers: [
            defined({
              name: 'synup',
              image: spec.image,
              imagePullPolicy: 'IfNotPresent',
              args: ['volume-job', spec.op, ...spec.args],
              env,
              volumeMounts,
              securityContext: { allowPrivilegeEscalation: false, ...spec.containerSecurityContext },
            }),
          ],
          volumes,
        }),
      },
    },
  };
}

/** A Job name: DNS-1123, ≤ 63 characters, unique per run and op. */
export function volumeJobName(op: VolumeJobOp, runId: string): string {
  const run = runId.toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  return `synup-${op}-${run}`.slice(0, 63).replace(/-+$/, '');
}
