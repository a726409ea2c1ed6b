import type { RemoteCellData } from '../volume/remote.js';

/**
 * The one interface the runner drives. Adapters know their tool (a process, systemctl, docker compose, kubectl),
 * never the plan or the journal. Every method is idempotent: calling it again after a crash is safe.
 */
export type AdapterName = 'process' | 'systemd' | 'compose' | 'kubernetes';

/** What a plan says an adapter does, in words, before any cell or config is resolved (each adapter class has one). */
export interface AdapterPlanText {
  /** The probes-off step, a sentence in this adapter's words; `required`: migrations make the first boot slow. */
  probesOff(required: boolean): string;
  /** The probes-on step, a sentence in this adapter's words. */
  probesOn: string;
  /** How the service is stopped, with the graceful `deadline` (e.g. "30s"), or without one when none is configured. */
  stop(deadline: string | null): string;
  /** How the service is switched to `version` and started. */
  start(version: string): string;
}

/** Why a first boot with migrations needs the probes out of the way (said by every adapter that has probes). */
export const PROBES_REQUIRED = ' (required: migrations make the first boot slow and probes would kill it)';

export interface ServiceStatus {
  running: boolean;
  /** Version the adapter is set to run (image tag, EnvironmentFile, last start), if it knows. */
  configuredVersion?: string | null;
  pid?: number;
  detail?: string;
  /** Running and already synup's to manage (it started or adopted this instance): `synup adopt` has nothing to do. */
  managed?: boolean;
  /** Processes the service left behind although it is not running (a SIGKILLed Cortex's drive workers); stop() ends them. */
  leftoverPids?: number[];
}

/** Whatever the adapter needs to put probes back exactly as they were; JSON-serializable, stored in the journal. */
export type SavedProbes = Record<string, unknown>;

export interface StopOptions {
  /** Graceful deadline before a forced stop (SIGKILL, `kill`, scale --force…). */
  timeoutMs: number;
  /**
   * End the stop once the service's processes have closed every LMDB env of the cell (its data is on disk), SIGKILLing
   * what is left of their exit. A Synapse main process closes its envs within tens of ms of SIGTERM, then lingers up
   * to ~1 s waiting on its drive workers; until it exits it holds its clients' open requests (a demoted leader's
   * writes). Process adapter only; the others stop as usual.
   */
  untilDataClosed?: boolean;
}

export interface StopResult {
  forced: boolean;
  durationMs: number;
  /** untilDataClosed cut the exit short after the data was closed. */
  cutShortAfterDataClosed?: boolean;
}

export interface LogOptions {
  /** Stop following when aborted. */
  signal: AbortSignal;
  /** Only lines written after this moment (best effort per tool). */
  since?: Date;
  /**
   * Called each time the follower has handed out every line the log held when it looked (a file read to its end).
   * Followers of a tool's stream cannot tell and never call it.
   */
  onCaughtUp?(): void;
}

/** Image references with their content digests (`repo@sha256:…`), so the journal says what really ran. */
export interface ServiceArtifacts {
  image: string;
  id: string | null;
  digests: string[];
}

export interface TailOptions {
  /** The last this many lines first. */
  lines: number;
  /** Then keep following new lines until the signal aborts. */
  follow: boolean;
  signal: AbortSignal;
}

export interface ServiceAdapter {
  readonly name: AdapterName;
  /** What plans and dry runs say it does (its class's static `plan`). */
  readonly plan: AdapterPlanText;
  status(): Promise<ServiceStatus>;
  /** Switch to `version` (image tag / venv / unit environment) and start it. Returns once the tool says started. */
  start(version: string): Promise<void>;
  /**
   * What is wrong with the instance synup last started, or null (process adapter; the others' tools own their service).
   * 'exited': it is gone — how it ended and its last error line — so a wait for health ends at once. 'holder': also
   * when it runs but another process holds cell.guid, so the service answering is not the one synup started (confirm).
   * `startedHere`: only an instance this adapter object started (a wait right after its start), not one recorded by an
   * earlier synup process.
   */
  startedInstanceProblem?(check: 'exited' | 'holder', options?: { startedHere?: boolean }): Promise<string | null>;
  /** Throws when `start(version)` could not work (no binary, no command): checked in preflight, before any downtime. */
  checkStart?(version: string): void;
  /** Graceful stop with a deadline, then forced; resolves only when the service is really gone. */
  stop(options: StopOptions): Promise<StopResult>;
  disableProbes(): Promise<SavedProbes>;
  restoreProbes(saved: SavedProbes): Promise<void>;
  /** Follows the service log, one line at a time, until the signal aborts. */
  logs(options: LogOptions): AsyncIterable<string>;
  /** `synup logs`: the last lines of the service log, then (with follow) new ones as they come. */
  tail(options: TailOptions): AsyncIterable<string>;
  /**
   * Takes over a running instance synup did not start so stop/upgrade manage it (process adapter: the holder of
   * cell.guid's lock), after `confirm` (which may refuse it). Absent: the adapter's tool (systemd, docker, kubectl)
   * already owns the service.
   */
  adopt?(confirm?: () => Promise<void>): Promise<unknown>;
  /**
   * Before any downtime: makes `version` present where the service runs (compose: `docker compose pull` of its
   * image, like kubeadm's pre-pull). Absent: nothing to fetch (the process/systemd binaries are checked by start).
   */
  prepare?(version: string): Promise<ServiceArtifacts>;
  /** After start: what the service really runs (compose: its image id and digests); absent when unknown. */
  runningArtifacts?(): Promise<ServiceArtifacts | null>;
  /** The argv that runs `argv` where the service runs: as is (process, systemd), `docker compose exec`, `kubectl exec`. */
  execArgv(argv: string[]): Promise<string[]>;
  /** Where Synapse's healthcheck finds the cell from there: `cell://<dir>/` locally, `cell:///vertex/storage/` in a container. */
  readonly cellUrl: string;
  /** Set when the cell's data is not a local dir (Kubernetes PVC): the runner works on it through this. */
  readonly remoteData?: RemoteCellData;
  /** The exact argv the adapter runs for an action, for `--dry-run` and runbooks. */
  describe(action: 'stop' | 'start' | 'disable-probes' | 'restore-probes' | 'status', version?: string): string[][];
}
