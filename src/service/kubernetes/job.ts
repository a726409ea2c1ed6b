import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SynupError } from '../../errors.js';
import { writeFileAtomic } from '../../fsutil.js';
import { parseVolumeJobLog, type VolumeJobOp } from '../../volume/result.js';
import type { Kubectl } from './kubectl.js';
import { SYNUP_LABELS } from './manifests.js';

interface JobObject {
  metadata?: { labels?: Record<string, string> };
  status?: { succeeded?: number; failed?: number; active?: number; ready?: number; conditions?: { type?: string; status?: string; reason?: string; message?: string }[] };
}

interface RunJobOptions {
  /** Where the manifest is kept (synup's state dir): what was applied, for the operator and the journal. */
  manifestDir: string;
  timeoutMs: number;
  /** How long its pod may take to run (Pending: the volume not attachable, no node fits, the image not pullable). */
  startTimeoutMs: number;
  pollMs: number;
}

const ownedBySynup = (job: JobObject) => job.metadata?.labels?.['app.kubernetes.io/managed-by'] === SYNUP_LABELS['app.kubernetes.io/managed-by'];

function finished(job: JobObject): 'succeeded' | 'failed' | null {
  if ((job.status?.succeeded ?? 0) > 0) return 'succeeded';
  if ((job.status?.failed ?? 0) > 0 || job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed';
  return null;
}

/**
 * Creates the Job (or, after a crash, finds the one this run already created), waits until it ends, reads the
 * result line from its log, and deletes it. A failed Job is kept for `kubectl describe`/`logs` (its TTL removes it).
 */
export async function runVolumeJob<T>(kubectl: Kubectl, manifest: Record<string, unknown>, op: VolumeJobOp, options: RunJobOptions): Promise<T> {
  const name = (manifest.metadata as { name: string }).name;
  mkdirSync(options.manifestDir, { recursive: true, mode: 0o700 });
  const file = path.join(options.manifestDir, `${name}.json`);
  writeFileAtomic(file, JSON.stringify(manifest, null, 2) + '\n');
  const existing = await kubectl.json<{ items?: JobObject[] }>('get', 'jobs', '--field-selector', `metadata.name=${name}`, '-o', 'json');
  const found = existing.items?.[0];
  if (found && !ownedBySynup(found)) throw new SynupError('refused', `job/${name} exists and was not created by synup`, { hint: 'rename or delete that Job; synup never touches what it did not create' });
  if (!found) await kubectl.run('create', '-f', file);
  const where = `job/${name}`;
  const started = Date.now();
  let job: JobObject = found ?? {};
  let running = false;
  for (let pause = 100; !finished(job); pause = Math.min(pause * 2, options.pollMs)) {
    running ||= (job.status?.ready ?? 0) > 0;
    // `ready` is reported by Kubernetes ≥ 1.24; without it only the overall deadline applies.
    const late = !running && job.status?.ready !== undefined && Date.now() - started >= options.startTimeoutMs;
    if (late || Date.now() - started >= options.timeoutMs) {
      // Never leave it behind: a Job that starts later could open the data next to the Synapse the rollback starts.
      await kubectl.run('delete', where, '--ignore-not-found', '--cascade=foreground', '--wait=true');
      throw new SynupError('failed', late ? `${where} did not start within ${Math.round(options.startTimeoutMs / 1000)} s (deleted)` : `${where} did not finish within ${Math.round(options.timeoutMs / 1000)} s (deleted)`, {
        hint: late
          ? 'a Pending pod: its volume cannot attach (still held by a node?), no node fits, or synup\'s image cannot be pulled (`kubectl get events`)'
          : 'raise service.kubernetes.volume.jobTimeout for a cell this large',
      });
    }
    await sleep(pause);
    job = await kubectl.json<JobObject>('get', where, '-o', 'json');
  }
  const { stdout } = await kubectl.run('logs', where, '-c', 'synup');
  const result = parseVolumeJobLog<T>(stdout, op, where);
  await kubectl.run('delete', where, '--ignore-not-found', '--cascade=background');
  return result;
}
