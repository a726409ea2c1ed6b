import path from 'node:path';
import { ensurePrivateDir } from '../fsutil.js';
import { SynupError } from '../errors.js';
import { readRecord, writeRecord } from '../records.js';

export type PhaseState = 'pending' | 'running' | 'done' | 'failed' | 'rolled-back' | 'interrupted';

export interface PhaseRecord {
  state: PhaseState;
  startedAt?: string;
  endedAt?: string;
  /** What happened: "already at 2.250.0", "caught up at nexus index 1234 (leader 1234)", the error… */
  detail?: string;
}

/** One `synup deploy upgrade` and its resumes: the phases in order and how far they got. */
export interface DeploymentRun {
  deployment: string;
  file: string;
  startedAt: string;
  endedAt?: string;
  outcome: 'running' | 'done' | 'failed' | 'rolled-back' | 'interrupted';
  /** Per service: its target version, fixed at the start so resume goes to the same place. */
  targets: Record<string, string>;
  phaseOrder: string[];
  phases: Record<string, PhaseRecord>;
  /** The run's options, so `deploy resume` goes on as the run began (a flag given to resume overrides one). */
  options?: { backup: boolean; parallel: number };
  /** Per mirrored lane (by its leader in the file): the service that leads now. */
  leaders: Record<string, string>;
  error?: string;
}

/** `<state dir>/deployments/<name>.json`, written atomically (temp + fsync + rename) after every change. */
export class DeploymentJournal {
  readonly file: string;
  constructor(stateDir: string, name: string) {
    this.file = path.join(stateDir, 'deployments', `${name}.json`);
  }

  read(): DeploymentRun | null {
    return readRecord<DeploymentRun>(this.file, (message) => {
      throw new SynupError('failed', `cannot read the deployment journal ${this.file}: ${message}`, { hint: 'it was written by synup; if it was edited by hand, put it back' });
    });
  }

  write(run: DeploymentRun): void {
    ensurePrivateDir(path.dirname(this.file));
    writeRecord(this.file, run);
  }
}
