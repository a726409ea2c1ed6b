import { createRequire } from 'node:module';
import type { z as Zod } from 'zod';
import { parseDuration } from '../units.js';

const require = createRequire(import.meta.url);


/** Every key of synup.yaml, its type and default (README.md "Configuration"). */
function buildSchema(z: typeof Zod) {
  const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 90s, 15m, 24h or 7d, received ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

  /** A duration that must be more than zero (a deadline of 0 would kill or fail at once). */
  const positiveDuration = duration.refine((ms) => ms > 0, { message: 'expected a duration above zero, like 30s' });

  /** A host name or IP address: no scheme, port or path (those have their own keys). */
  const host = z
    .string()
    .min(1)
    .refine((value) => !/[/:]/.test(value) || /^\[?[0-9a-f:]+\]?$/i.test(value), {
      message: 'expected a host name or IP address like 127.0.0.1, without a scheme, port or path (the port is health.port)',
    });

  /** Used in file names (pid file, backups, locks): one path component. */
  const cellName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a name of letters, digits, ".", "_" and "-" (it becomes part of file names), without "/"');

  const argv = z.array(z.string().min(1)).min(1);

  const processAdapterSchema = z.strictObject({
    /** argv template; `{version}`, `{dir}`, `{port}` are substituted. Never run through a shell. */
    command: argv.optional(),
    pidFile: z.string().optional(),
    logFile: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
  });

  const systemdAdapterSchema = z.strictObject({
    unit: z.string().min(1),
    environmentFile: z.string().optional(),
    versionVariable: z.string().default('SYNAPSE_VERSION'),
    dropInDir: z.string().optional(),
    user: z.boolean().default(false),
  });

  const composeAdapterSchema = z.strictObject({
    file: z.string().default('docker-compose.yaml'),
    service: z.string().min(1),
    project: z.string().optional(),
    image: z.string().default('vertexproject/synapse-cortex'),
    overrideFile: z.string().optional(),
    /**
     * After an upgrade (and a rollback), write the new tag into the compose file itself (a backup of it beside it
     * first), so the operator's own `docker compose up -d` starts the version the data needs. Not needed when the
     * file takes the tag from a variable (`image: …:v${SYNAPSE_VERSION}`): synup sets that in `.env`.
     */
    updateFile: z.boolean().default(false),
  });

  const kubernetesAdapterSchema = z.strictObject({
    kind: z.enum(['statefulset', 'deployment']).default('statefulset'),
    name: z.string().min(1),
    namespace: z.string().default('default'),
    container: z.string().optional(),
    context: z.string().optional(),
    image: z.string().default('vertexproject/synapse-cortex'),
    replicas: z.number().int().positive().default(1),
    /** volume: the data is on the workload's PVC, reached by Jobs (default without cell.dir); local: cell.dir is it. */
    data: z.enum(['volume', 'local']).optional(),
    /** The cell's PersistentVolumeClaim, worked on by Jobs running synup's image (see README, Kubernetes). */
    volume: z
      .strictObject({
        image: z.string().min(1).optional(),
        mountPath: z.string().startsWith('/').default('/vertex/storage'),
        backupClaim: z.string().min(1).optional(),
        runAsUser: z.number().int().min(0).optional(),
        jobTimeout: duration.default(6 * 3_600_000),
        jobStartTimeout: duration.default(10 * 60_000),
      })
      .default({ mountPath: '/vertex/storage', jobTimeout: 6 * 3_600_000, jobStartTimeout: 10 * 60_000 }),
    /** A Helm-managed workload is upgraded with `helm upgrade --reuse-values`; without a chart it is refused. */
    helm: z
      .strictObject({
        chart: z.string().min(1).optional(),
        chartVersion: z.string().min(1).optional(),
        imageKey: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('image.tag'),
        imageValue: z.string().includes('{version}').default('v{version}'),
      })
      .default({ imageKey: 'image.tag', imageValue: 'v{version}' }),
  });

  return z.strictObject({
    cell: z
      .strictObject({
        name: cellName.optional(),
        dir: z.string().min(1).optional(),
        kind: z.string().default('cortex'),
        /** mirror: a passive follower of a leader; it is ready when it answers, never "active" (no wait for it). */
        role: z.enum(['leader', 'mirror']).default('leader'),
      })
      .default({ kind: 'cortex', role: 'leader' }),
    changelog: z.string().min(1).optional(),
    state: z.strictObject({ dir: z.string().min(1).optional() }).default({}),
    backup: z
      .strictObject({
        dir: z.string().min(1).optional(),
        maxAge: positiveDuration.default(24 * 3_600_000),
        engine: z.enum(['auto', 'mdb_copy', 'builtin', 'lmdb-js', 'synapse']).default('auto'),
        jobs: z.number().int().positive().optional(),
        skipDirs: z.array(z.string()).default([]),
        python: z.string().default('python3'),
      })
      .default({ maxAge: 24 * 3_600_000, engine: 'auto', skipDirs: [], python: 'python3' }),
    service: z
      .strictObject({
        adapter: z.enum(['process', 'systemd', 'compose', 'kubernetes']).default('process'),
        stopTimeout: positiveDuration.default(30_000),
        process: processAdapterSchema.optional(),
        systemd: systemdAdapterSchema.optional(),
        compose: composeAdapterSchema.optional(),
        kubernetes: kubernetesAdapterSchema.optional(),
      })
      .default({ adapter: 'process', stopTimeout: 30_000 }),
    health: z
      .strictObject({
        host: host.default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(4443),
        /** PEM CA file to trust instead of the cell's own sslcert.pem. */
        ca: z.string().optional(),
        insecure: z.boolean().default(false),
        /** Basic auth for the HTTPS API; never logged. */
        username: z.string().optional(),
        password: z.string().optional(),
        startTimeout: positiveDuration.default(300_000),
        smoke: argv.optional(),
        /** https: GET /api/v1/active; tool: Synapse's healthcheck tool run through the adapter (no HTTPS needed). */
        check: z.enum(['https', 'tool']).default('https'),
        tool: z
          .strictObject({
            /** Default: `python3 -m synapse.tools.service.healthcheck -c cell://{dir}/` (in a container: python, /vertex/storage). */
            command: argv.optional(),
            /** Extra environment for a local command (e.g. PYTHONPATH). */
            env: z.record(z.string(), z.string()).default({}),
            timeout: duration.default(15_000),
          })
          .default({ env: {}, timeout: 15_000 }),
      })
      .default({ host: '127.0.0.1', port: 4443, insecure: false, startTimeout: 300_000, check: 'https', tool: { env: {}, timeout: 15_000 } }),
    upgrade: z
      .strictObject({
        freeSpaceMargin: z.number().min(0).max(10).default(0.2),
        ignorePreflight: z.array(z.string()).default([]),
        /** Refuse an upgrade while stored Storm, configuration or packages use what it deprecates (check clean-impact). */
        requireCleanImpact: z.boolean().default(false),
        /**
         * cold: compact the stopped cell (downtime grows with the data). online: before any downtime, a compacted
         * shadow mirror of the running cell follows it; at downtime it is swapped in (issue 24). Falls back to cold,
         * saying why, wherever online cannot apply.
         */
        defrag: z.enum(['cold', 'online']).default('cold'),
        onlineDefrag: z
          .strictObject({
            /** The telepath URL the shadow follows (with user:password); default: the cell's dmon:listen with health.username/password. */
            leaderUrl: z.string().min(1).optional(),
            /** Synapse's own backup of the running cell (the shadow's consistent start). */
            backupTimeout: positiveDuration.default(3_600_000),
            /** Before any downtime: how long the shadow may take to reach the cell's nexus index. */
            catchUpTimeout: positiveDuration.default(600_000),
            /**
             * After the cell stopped: how long the shadow may take to receive its last entries. Before the stop, the
             * shadow must have kept within half of it (a round of catching up no longer than that).
             */
            cutoverWait: positiveDuration.default(10_000),
          })
          .default({ backupTimeout: 3_600_000, catchUpTimeout: 600_000, cutoverWait: 10_000 }),
      })
      .default({ freeSpaceMargin: 0.2, ignorePreflight: [], requireCleanImpact: false, defrag: 'cold', onlineDefrag: { backupTimeout: 3_600_000, catchUpTimeout: 600_000, cutoverWait: 10_000 } }),
  });
}

type ConfigSchema = ReturnType<typeof buildSchema>;
export type SynupConfig = Zod.output<ConfigSchema>;
export type ConfigInput = Zod.input<ConfigSchema>;

let built: ConfigSchema | undefined;
/**
 * synup.yaml's schema, built on first use: zod is loaded (synchronously, from its CommonJS build) only by a
 * command that reads a config, so `synup plan` without one starts without it.
 */
export const configSchema = {
  parse: (value: unknown): SynupConfig => (built ??= buildSchema(require('zod') as typeof import('zod'))).parse(value),
  safeParse: (value: unknown) => (built ??= buildSchema(require('zod') as typeof import('zod'))).safeParse(value),
};

/**
 * Where synup works on a Kubernetes cell's data: `volume` (no cell.dir: on the workload's claim, only through Jobs) or
 * `local` (cell.dir is a hostPath/local volume synup sees, worked on as on a host); null for the other adapters.
 */
export function kubernetesDataMode(config: SynupConfig): 'volume' | 'local' | null {
  if (config.service.adapter !== 'kubernetes') return null;
  return config.service.kubernetes?.data ?? (config.cell.dir ? 'local' : 'volume');
}
