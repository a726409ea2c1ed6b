import { chmodSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { lmdb } from '../lmdb/binding.js';
import { ensurePrivateDir } from '../fsutil.js';
import type { MigrationWork } from '../plan/boot-calibration.js';
import type { UpgradePlan } from '../plan/index.js';
import type { ServiceArtifacts } from '../service/adapter.js';
import { crashPoint } from './crash.js';
import { SynupError } from '../errors.js';

/** listr2's task states, used as-is (STYLE.md). */
export type StepState = 'pending' | 'running' | 'completed' | 'failed' | 'skipped' | 'rolling-back' | 'rolled-back' | 'rollback-failed';
export type RunOutcome = 'running' | 'done' | 'failed' | 'rolling-back' | 'rolled-back' | 'rollback-failed';

export interface StepRecord {
  state: StepState;
  startedAt?: string;
  endedAt?: string;
  error?: string;
}

/** A dir synup made (or renamed) and therefore may remove later; identified by inode so a look-alike is never touched. */
export interface OwnedDir {
  path: string;
  kind: 'staging' | 'pre' | 'failed' | 'shadow';
  ino: number;
  createdAt: string;
}

export interface RunRecord {
  id: string;
  cellDir: string;
  cellName: string;
  from: string;
  to: string;
  /** The plan the run was made with, so resume and rollback act on the same facts. */
  plan: UpgradePlan;
  startedAt: string;
  endedAt?: string;
  outcome: RunOutcome;
  /** By step name (src/runner/steps/). */
  steps: Partial<Record<string, StepRecord>>;
  /** Facts steps hand to later steps (and to resume): saved probes, dirs, timings, sizes. */
  data: RunData;
  owned: OwnedDir[];
  error?: string;
  rollbackError?: string;
}

export interface RunData {
  /** Inode of the original cell dir: tells, whatever names are where, which dir holds the pre-upgrade data. */
  origIno?: number;
  estimateBytes?: number;
  /** Whether the service ran before the upgrade: a rollback leaves a stopped service stopped. */
  wasRunning?: boolean;
  backupDir?: string;
  madeBackup?: boolean;
  savedProbes?: Record<string, unknown>;
  probesDisabled?: boolean;
  probesDisabling?: boolean;
  stoppedAt?: string;
  newStartedAt?: string;
  /** The new version's instance as the adapter first saw it (ServiceStatus.instance): another one is a failed boot. */
  newInstance?: string;
  activeAt?: string;
  migratedAt?: string;
  /** The first boot's model migrations by its log (`beginning model migration` → `model migrations complete`). */
  modelMigrationMs?: number;
  /** What the crossed migrations had to do in this cell, counted in preflight: calibrates later predictions. */
  migrationWork?: MigrationWork;
  /** A rollback of a finished upgrade (`rollback --force`) began: the second outage starts here, not at stoppedAt. */
  reopenedForRollbackAt?: string;
  /** The defrag this run does: the plan's choice, then cold if online fell back (with why). Absent: cold. */
  defrag?: { mode: 'cold' | 'online'; reason: string };
  /** Online defrag's shadow mirror: where Synapse's backup for it went, and what it measured. */
  shadow?: { backupPath?: string; backupMs?: number; caughtUpMs?: number; cellIndex?: number; cutoverMs?: number; verified?: boolean };
  /** none → moved-out (dir renamed to pre) → swapped (staging, or the shadow, renamed to dir). */
  swap?: 'none' | 'moved-out' | 'swapped';
  defragVerified?: boolean;
  engine?: string;
  /** Cold defrag: bytes really on disk (st_blocks) of the stopped cell and of its compacted copy. */
  bytesBefore?: number;
  bytesAfter?: number;
  envs?: number;
  migrations?: number;
  confirmedVersion?: string;
  /** finish made the operator's own tool start this version too (compose: .env or the compose file). */
  pinnedVersion?: string;
  /** What the adapter fetched before downtime (compose: the target image and its digest). */
  prepared?: ServiceArtifacts;
  /** What runs after start (compose: the image the container runs, by digest). */
  runningArtifacts?: ServiceArtifacts;
}

const JOURNAL_DIR = 'journal.lmdb';

/**
 * The journal could not be read or written (a damaged page, a full disk, a read-only state dir): named with its path,
 * never the bare LMDB code. A run must not act on the cell while this is so: resume cannot know what was done.
 */
export class JournalError extends SynupError {
  constructor(dir: string, action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = (cause as Error).message ?? String(cause);
    const full = code === 'ENOSPC' || /MDB_MAP_FULL|No space left/i.test(why);
    super('failed', `cannot ${action} synup's journal ${dir}: ${why}`, {
      hint: full
        ? `free space on the filesystem of ${path.dirname(dir)} (\`synup prune\` removes what synup kept), then run the command again`
        : `the journal is damaged or unreadable: move it aside (\`mv ${dir} ${dir}.damaged\`) to start a new one; the cell itself is as the last step left it (\`synup status\`)`,
      cause,
    });
  }
}

/**
 * synup's own journal: an LMDB env (synced commits) in the state dir, outside any cell dir.
 * Every update is one write transaction; the record on disk is always a whole, earlier or later, state.
 */
export class Journal {
  private constructor(
    private readonly env: RootDatabase,
    private readonly runs: Database<RunRecord, string>,
    readonly dir: string,
  ) {}

  static open(stateDir: string): Journal {
    ensurePrivateDir(stateDir);
    const dir = path.join(stateDir, JOURNAL_DIR);
    ensurePrivateDir(dir);
    return guarded(dir, 'open', () => {
      const env = lmdb().open({ path: dir, noSubdir: false, maxDbs: 4, encoding: 'json' });
      for (const file of readdirSync(dir)) chmodSync(path.join(dir, file), 0o600);
      const runs = env.openDB<RunRecord, string>({ name: 'runs', encoding: 'json' });
      return new Journal(env, runs, dir);
    });
  }

  static exists(stateDir: string): boolean {
    return existsSync(path.join(stateDir, JOURNAL_DIR, 'data.mdb'));
  }

  create(record: RunRecord): RunRecord {
    guarded(this.dir, 'write to', () => this.runs.putSync(record.id, record));
    return record;
  }

  get(id: string): RunRecord | undefined {
    return guarded(this.dir, 'read', () => this.runs.get(id));
  }

  /** Read-modify-write in one synced transaction. */
  update(id: string, change: (run: RunRecord) => void): RunRecord {
    crashPoint('journal-write');
    return guarded(this.dir, 'write to', () =>
      this.env.transactionSync(() => {
        const run = this.runs.get(id);
        if (!run) throw new Error(`run ${id} is not in the journal`);
        const next = structuredClone(run);
        change(next);
        this.runs.putSync(id, next);
        return next;
      }),
    );
  }

  list(filter: { cellDir?: string } = {}): RunRecord[] {
    const all = guarded(this.dir, 'read', () => [...this.runs.getRange({})].map((entry) => entry.value));
    return all.filter((r) => !filter.cellDir || r.cellDir === filter.cellDir).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  latest(cellDir: string): RunRecord | undefined {
    return this.list({ cellDir }).at(-1);
  }

  close(): Promise<void> {
    return this.env.close();
  }
}

/** Runs a journal operation; LMDB's and the filesystem's errors become a JournalError naming the journal. */
function guarded<T>(dir: string, action: string, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof SynupError) throw error;
    throw new JournalError(dir, action, error);
  }
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}
