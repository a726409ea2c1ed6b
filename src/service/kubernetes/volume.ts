import path from 'node:path';
import { refusal, SynupError, usageError } from '../../errors.js';
import type { CellInfo } from '../../lmdb/cellinfo.js';
import type { RemoteCellData } from '../../volume/remote.js';
import type { VolumeDefragResult, VolumeJobOp } from '../../volume/result.js';
import { runVolumeJob } from './job.js';
import type { Kubectl } from './kubectl.js';
import { volumeJobManifest, volumeJobName } from './manifests.js';
import type { Container, Pod, Workload } from './workload.js';

export interface VolumeSettings {
  /** synup's own image for the Jobs (tag = synup's version). */
  image: string;
  /** Where the Synapse container mounts the cell's claim. */
  mountPath: string;
  /** The claim backups go to (the operator's), mounted at /synup/backups in the Job. */
  backupClaim: string | null;
  /** The uid the Job runs as when the workload sets none (it must own the cell's files). */
  runAsUser: number | null;
  jobTimeoutMs: number;
  jobStartTimeoutMs: number;
  pollMs: number;
  manifestDir: string;
}

/** What the volume needs from the adapter: the live workload, its Synapse container, its pods. */
export interface WorkloadAccess {
  readonly target: string;
  readonly kind: 'statefulset' | 'deployment';
  readonly workloadName: string;
  readonly cellName: string;
  workload(): Promise<Workload>;
  container(workload: Workload): { index: number; container: Container };
  pods(workload: Workload): Promise<Pod[]>;
  /** The node the last pod ran on (seen at stop), or null. */
  lastNode(): string | null;
}

interface VolumeBackup {
  dir: string;
  bytes: number;
  engine: string;
  verified: boolean;
}

interface VolumeBackupGate {
  backup: { dir: string; ageMs: number } | null;
  rejected: { dir: string; reason: string }[];
}

/**
 * The cell's data where it lives in a cluster: on the workload's PersistentVolumeClaim. Each operation is a Job that
 * runs `synup volume-job <op>` with the claim mounted exactly where Synapse mounts it, started only once every pod
 * of the workload is gone (a ReadWriteOnce volume attaches to one node; two writers would corrupt LMDB).
 */
export class KubernetesVolume implements RemoteCellData {
  constructor(
    private readonly kubectl: Kubectl,
    private readonly access: WorkloadAccess,
    private readonly settings: VolumeSettings,
  ) {}

  get owner(): string {
    return this.access.target;
  }

  /** The claim and subPath of the Synapse container's data mount. */
  locate(workload: Workload, container: Container): { claim: string; subPath: string | null } {
    const mount = container.volumeMounts?.find((m) => path.posix.normalize(m.mountPath).replace(/\/$/, '') === this.settings.mountPath.replace(/\/$/, ''));
    if (!mount) {
      throw usageError(`${this.access.target}: container ${container.name} mounts nothing at ${this.settings.mountPath}`, 'set service.kubernetes.volume.mountPath to where the Synapse container mounts its storage');
    }
    const claim = workload.spec?.template?.spec?.volumes?.find((v) => v.name === mount.name)?.persistentVolumeClaim?.claimName;
    if (claim) return { claim, subPath: mount.subPath ?? null };
    const template = workload.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === mount.name);
    if (this.access.kind === 'statefulset' && template) {
      if ((workload.spec?.replicas ?? 1) > 1) throw refusal(`${this.access.target} has ${workload.spec?.replicas} replicas: one Synapse cell has one volume`, 'scale it to 1 replica first');
      return { claim: `${mount.name}-${this.access.workloadName}-0`, subPath: mount.subPath ?? null };
    }
    throw usageError(`${this.access.target}: volume ${mount.name} at ${this.settings.mountPath} is not a PersistentVolumeClaim`, 'synup works on the data through a Job that mounts the claim: give the cell a PVC');
  }

  async describe(): Promise<string> {
    const workload = await this.access.workload();
    return `pvc/${this.locate(workload, this.access.container(workload).container).claim} of ${this.access.target}`;
  }

  private securityContexts(workload: Workload, container: Container) {
    const pod = workload.spec?.template?.spec ?? {};
    const runAsUser = container.securityContext?.runAsUser ?? pod.securityContext?.runAsUser ?? this.settings.runAsUser;
    if (runAsUser === undefined || runAsUser === null) {
      throw refusal(`${this.access.target} sets no runAsUser: synup cannot tell which user owns the cell's files`, 'set service.kubernetes.volume.runAsUser to the uid Synapse runs as (0 for Vertex images run without a securityContext)');
    }
    return {
      pod: { securityContext: { ...pod.securityContext, runAsUser }, nodeSelector: pod.nodeSelector, tolerations: pod.tolerations, imagePullSecrets: pod.imagePullSecrets },
      container: container.securityContext,
    };
  }

  /** The manifest of the Job for `op` (also what `--dry-run` and the contract tests validate). */
  async manifest(op: VolumeJobOp, runId: string, args: string[] = []): Promise<Record<string, unknown>> {
    const workload = await this.access.workload();
    const { container } = this.access.container(workload);
    const { claim, subPath } = this.locate(workload, container);
    const contexts = this.securityContexts(workload, container);
    if ((op === 'backup' || op === 'backup-gate') && !this.settings.backupClaim) {
      throw refusal('no backup claim named: in a cluster, backups go to a second PersistentVolumeClaim', 'set service.kubernetes.volume.backupClaim');
    }
    return volumeJobManifest({
      name: volumeJobName(op, runId),
      namespace: this.kubectl.options.namespace,
      image: this.settings.image,
      workload: this.access.workloadName,
      op,
      args,
      cellName: this.access.cellName,
      claim,
      mountPath: this.settings.mountPath,
      subPath,
      backupClaim: op === 'backup' || op === 'backup-gate' ? this.settings.backupClaim : null,
      preferredNode: this.access.lastNode(),
      pod: contexts.pod,
      containerSecurityContext: contexts.container,
      deadlineSeconds: Math.ceil(this.settings.jobTimeoutMs / 1000),
    });
  }

  private async run<T>(op: VolumeJobOp, runId: string, args: string[] = []): Promise<T> {
    const workload = await this.access.workload();
    const pods = await this.access.pods(workload);
    if (pods.length > 0) {
      throw refusal(`${this.access.target} still has ${pods.length} pod(s) (${pods.map((p) => p.metadata?.name).join(', ')}): the volume job would share its ReadWriteOnce volume with a running Synapse`, 'synup runs volume jobs only while the workload is scaled to 0');
    }
    const manifest = await this.manifest(op, runId, args);
    return runVolumeJob<T>(this.kubectl, manifest, op, { manifestDir: this.settings.manifestDir, timeoutMs: this.settings.jobTimeoutMs, startTimeoutMs: this.settings.jobStartTimeoutMs, pollMs: this.settings.pollMs });
  }

  cellInfo(runId: string): Promise<CellInfo & { certPem: string | null; freeBytes: number; compactedBytes: number }> {
    return this.run('cell-info', runId);
  }

  backup(runId: string): Promise<VolumeBackup> {
    return this.run('backup', runId);
  }

  backupGate(runId: string, maxAgeMs: number): Promise<VolumeBackupGate> {
    return this.run('backup-gate', runId, ['--max-age', `${Math.ceil(maxAgeMs / 1000)}s`]);
  }

  async defrag(runId: string): Promise<VolumeDefragResult> {
    return this.run('defrag', runId, ['--run', runId]);
  }

  async undoDefrag(runId: string): Promise<{ restored: string[] }> {
    const result = await this.run<{ restored: string[] }>('undo-defrag', runId, ['--run', runId]);
    if (!Array.isArray(result.restored)) throw new SynupError('failed', 'the undo-defrag job returned no list of restored entries');
    return result;
  }
}
