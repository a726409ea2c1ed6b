import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { loadConfig } from '../config/load.js';
import { parseDuration } from '../units.js';
import type { SynupConfig } from '../config/schema.js';
import { errorMessage, SynupError, usageError } from '../errors.js';
import { withoutPassword, type AhaQuery } from './aha.js';
import { canonicalHost } from './hosts.js';

/**
 * The service kinds of a Synapse deployment, grouped by the devops guide's "Update Sequencing": each tier is
 * upgraded after every service of the tiers before it (a later tier may use new APIs of an earlier one).
 */
export const TIERS = [
  { title: 'AHA, Axon and JSONStor', kinds: ['aha', 'axon', 'jsonstor'] },
  { title: 'Cortex', kinds: ['cortex'] },
  { title: 'Search and Metrics', kinds: ['search', 'metrics'] },
  { title: 'Optic', kinds: ['optic'] },
  { title: 'Advanced Power-Ups', kinds: ['power-up'] },
  { title: 'Rapid Power-Ups', kinds: ['rapid-power-up'] },
] as const;

export const SERVICE_KINDS = TIERS.flatMap((t) => t.kinds);
export type ServiceKind = (typeof SERVICE_KINDS)[number];

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a name of letters, digits, ".", "_" and "-"');
const argv = z.array(z.string().min(1)).min(1);
const version = z.string().regex(/^v?\d+\.\d+\.\d+$/, 'expected a version like 2.250.0');
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a duration above zero like 30s or 5m, received ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

/** How synup reaches a mirrored service (argv templates, never a shell; `{dir}`, `{port}`, `{name}` substituted). */
const mirrorCommandsSchema = z.strictObject({
  /** Prints the service's nexus index (an integer) on stdout: Synapse's `getNexsIndx()`. */
  nexusIndex: argv,
  /** Promotes the mirror it is run for: `python3 -m synapse.tools.service.promote --svcurl …` (graceful hand-off). */
  promote: argv,
  /**
   * graceful: the mirror asks its running leader to hand off (Synapse needs AHA for it: the leader reaches the mirror
   * by its AHA name). failure: synup stops the leader first, the promote command takes over (`… promote --failure`),
   * then the old leader is pointed at the new one (mirror: in its cell.mods.yaml, as Synapse's hand-off writes it).
   */
  promotion: z.enum(['graceful', 'failure']).default('graceful'),
  env: z.record(z.string(), z.string()).default({}),
  /** How long a mirror may take to catch up with its leader (after its upgrade, before a promotion). */
  catchUpTimeout: duration.default(300_000),
  /** One command's deadline. */
  commandTimeout: duration.default(60_000),
});

/**
 * How synup asks AHA for its services (argv template, never a shell, run where synup runs: prefix it with `docker
 * compose exec -T aha` or `kubectl exec` to run it beside AHA). `{url}` is `url`, `{script}` synup's Python that prints
 * AHA's `getAhaSvcs()` as one JSON array (src/deploy/aha.ts).
 */
const ahaQuerySchema = z.strictObject({
  /** AHA's telepath URL as seen where the command runs: `cell:///srv/aha/`, `ssl://root@aha.<network>:27492/`. */
  url: z.string().regex(/^(cell|unix|ssl|tcp|aha):\/\//, 'expected a telepath URL of the AHA server like cell:///srv/aha/ or ssl://root@aha.synapse:27492/'),
  command: argv.default(['python3', '-c', '{script}', '{url}']),
  env: z.record(z.string(), z.string()).default({}),
  timeout: duration.default(30_000),
});

const serviceSchema = z.strictObject({
  name,
  kind: z.enum(SERVICE_KINDS as [ServiceKind, ...ServiceKind[]]),
  /** The service's own synup.yaml (cell dir, adapter, health), relative to the deployment file. */
  config: z.string().min(1),
  /** Leader's name when this service is a mirror (a copy of the leader's data following its nexus). */
  mirrorOf: name.optional(),
  /** On one mirror of a leader: the one promoted to lead (default: the leader's first mirror in the file). */
  promote: z.boolean().optional(),
  /** Target version of this service when it differs from the deployment's (a power-up with its own releases). */
  to: version.optional(),
  /** Its own changelog (a power-up's); default the deployment's (Synapse's). */
  changelog: z.string().min(1).optional(),
  /** The telepath URL its mirrors follow (`tcp://root:…@host:dmon port/`); needed by a failure promotion. */
  url: z.string().regex(/^(tcp|ssl|aha|https?):\/\//, 'expected a telepath URL like tcp://root:<password>@127.0.0.1:27492/').optional(),
  /** Its AHA service name `<aha:name>.<aha:network>` (default: read from its cell.yaml and cell.mods.yaml). */
  ahaName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/, 'expected an AHA service name like 00.cortex.synapse (<aha:name>.<aha:network>)').optional(),
});

export const deploymentSchema = z.strictObject({
  name: name.optional(),
  to: version.optional(),
  changelog: z.string().min(1).optional(),
  state: z.strictObject({ dir: z.string().min(1).optional() }).default({}),
  mirror: mirrorCommandsSchema.optional(),
  /** Where AHA is: `deploy discover` lists it, `deploy plan|upgrade` compare the file's roles with it. */
  aha: ahaQuerySchema.optional(),
  services: z.array(serviceSchema).min(1, 'expected at least one service'),
});

export type MirrorCommands = z.output<typeof mirrorCommandsSchema>;

/** aha: from a URL alone (`deploy discover --aha-url`), the rest defaulted; a URL that is not telepath's: exit 2. */
export function ahaQueryFor(url: string): AhaQuery {
  const parsed = ahaQuerySchema.safeParse({ url });
  if (!parsed.success) throw usageError(`--aha-url: ${parsed.error.issues[0]!.message}, received ${JSON.stringify(withoutPassword(url))}`);
  return parsed.data;
}

export interface DeploymentService {
  name: string;
  kind: ServiceKind;
  /** Absolute path of the service's synup.yaml. */
  configFile: string;
  config: SynupConfig;
  mirrorOf: string | null;
  /** Names of the services that mirror this one. */
  mirrors: string[];
  /** On a leader: the mirror that is promoted (`promote: true`, else its first mirror); null on any other service. */
  promoted: string | null;
  to: string | null;
  changelog: string | null;
  /** The URL its mirrors follow (never logged: it may hold a password). */
  url: string | null;
  /** Its AHA service name as the file gives it (else its cell.yaml's: deploy/aha-check.ts). */
  ahaName: string | null;
}

export interface Deployment {
  file: string;
  name: string;
  to: string | null;
  changelog: string | null;
  stateDir: string | null;
  mirror: MirrorCommands | null;
  aha: AhaQuery | null;
  services: DeploymentService[];
}

const isUrl = (p: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(p);

function fileError(file: string, error: z.ZodError): SynupError {
  const issue = error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : '(top level)';
  const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}` : issue.message;
  return usageError(`deployment ${file}: ${where}: ${message}`, 'see README.md "Deployments" for every key');
}

/**
 * Reads and checks a deployment file and every service's synup.yaml. Everything that can be checked without
 * touching a service is: names unique, each mirror's leader exists and is a leader of the same kind, cell dirs and
 * health ports distinct, mirror commands present when there are mirrors. `env`: where SYNUP_HEALTH_PASSWORD is read.
 */
export function loadDeployment(given: string, cwd: string, env: NodeJS.ProcessEnv = {}): Deployment {
  if (given.trim() === '') throw usageError('--file was given an empty path', 'pass the path of a deployment.yaml');
  const file = path.resolve(cwd, given);
  if (!existsSync(file)) throw usageError(`deployment file ${file} does not exist`, 'pass --file <deployment.yaml> (default ./deployment.yaml)');
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : errorMessage(error);
    throw usageError(`deployment ${file} is not valid YAML: ${detail}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw usageError(`deployment ${file}: expected a mapping with a services: list at the top level`);
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) throw fileError(file, parsed.error);
  const spec = parsed.data;
  const base = path.dirname(file);
  const at = (i: number) => `deployment ${file}: services.${i}`;

  const seen = new Map<string, number>();
  spec.services.forEach((s, i) => {
    if (seen.has(s.name)) throw usageError(`${at(i)}: name ${JSON.stringify(s.name)} is already used by services.${seen.get(s.name)}`, 'give every service its own name');
    seen.set(s.name, i);
  });
  const services: DeploymentService[] = spec.services.map((s, i) => {
    const configFile = path.resolve(base, s.config);
    if (!existsSync(configFile)) throw usageError(`${at(i)} (${s.name}): config ${configFile} does not exist`, "each service names its own synup.yaml (cell.dir, service adapter, health)");
    let config: SynupConfig;
    try {
      // Per-service settings come from its own file; of the SYNUP_* variables only the health password applies to
      // every service that sets none (one admin password across a deployment is common; cell dirs never are).
      config = loadConfig({ file: configFile, cwd: base, env: {} }).config;
      config.health.password ??= env.SYNUP_HEALTH_PASSWORD || undefined;
    } catch (error) {
      throw usageError(`${at(i)} (${s.name}): ${errorMessage(error)}`, 'fix that service\'s synup.yaml');
    }
    if (!config.cell.dir) throw usageError(`${at(i)} (${s.name}): ${configFile} has no cell.dir`, 'set cell.dir to the service storage dir');
    return {
      name: s.name,
      kind: s.kind,
      configFile,
      config,
      mirrorOf: s.mirrorOf ?? null,
      mirrors: [],
      promoted: null,
      to: s.to ?? null,
      changelog: s.changelog ? (isUrl(s.changelog) ? s.changelog : path.resolve(base, s.changelog)) : null,
      url: s.url ?? null,
      ahaName: s.ahaName ?? null,
    };
  });

  const byName = new Map(services.map((s) => [s.name, s]));
  services.forEach((s, i) => {
    if (!s.mirrorOf) return;
    const leader = byName.get(s.mirrorOf);
    if (!leader) throw usageError(`${at(i)} (${s.name}): mirrorOf ${JSON.stringify(s.mirrorOf)} names no service of this deployment`, `known: ${services.map((x) => x.name).join(', ')}`);
    if (leader === s) throw usageError(`${at(i)} (${s.name}): a service cannot mirror itself`);
    if (leader.mirrorOf) throw usageError(`${at(i)} (${s.name}): mirrorOf ${leader.name}, which is itself a mirror of ${leader.mirrorOf}`, `name the leader: mirrorOf: ${leader.mirrorOf}`);
    if (leader.kind !== s.kind) throw usageError(`${at(i)} (${s.name}): a ${s.kind} cannot mirror ${leader.name} (kind ${leader.kind})`);
    if (s.to !== leader.to) throw usageError(`${at(i)} (${s.name}): a mirror goes to its leader's version (to: ${leader.to ?? 'the deployment\'s'}), not ${s.to ?? 'the deployment\'s'}`);
    leader.mirrors.push(s.name);
  });
  spec.services.forEach((s, i) => {
    if (s.promote === undefined) return;
    if (!s.mirrorOf) throw usageError(`${at(i)} (${s.name}): promote: is only for a mirror (it names the mirror that becomes the leader)`, 'set promote: true on one mirror of a leader, or remove it');
    if (!s.promote) return;
    const leader = byName.get(s.mirrorOf)!;
    if (leader.promoted) throw usageError(`${at(i)} (${s.name}): promote: true is already set on ${leader.promoted}, another mirror of ${leader.name}`, 'one mirror per leader is promoted');
    leader.promoted = s.name;
  });
  for (const s of services) if (s.mirrors.length) s.promoted ??= s.mirrors[0]!;
  if (!spec.mirror && services.some((s) => s.mirrorOf)) {
    throw usageError(`deployment ${file}: mirror: is missing; it says how to read a service's nexus index and promote a mirror`, 'add mirror: { nexusIndex: [argv…], promote: [argv…] } (see README.md "Deployments")');
  }
  if (spec.mirror?.promotion === 'failure') {
    const lacking = services.find((s) => (s.mirrors.length || s.mirrorOf) && !s.url);
    if (lacking) throw usageError(`deployment ${file}: ${lacking.name} has no url:, which mirror.promotion: failure needs (the old leader is pointed at the new one)`, 'add url: tcp://root:<password>@<host>:<dmon port>/ to every service of a mirrored lane');
  }
  // One dir or one port reached two ways is still one: cell dirs compared by their real path (symlinks resolved),
  // health ports by host with every loopback name (localhost, 127.0.0.1, ::1) one host.
  const unique = (what: string, key: (s: DeploymentService) => string, text: (s: DeploymentService, other: DeploymentService, k: string) => string) => {
    const owners = new Map<string, DeploymentService>();
    for (const s of services) {
      const k = key(s);
      const other = owners.get(k);
      if (other) throw usageError(`deployment ${file}: ${s.name} and ${other.name} have the same ${what} ${text(s, other, k)}`, 'each service has its own');
      owners.set(k, s);
    }
  };
  const dirGiven = (s: DeploymentService) => path.resolve(s.config.cell.dir!);
  const real = (s: DeploymentService) => (existsSync(dirGiven(s)) ? realpathSync(dirGiven(s)) : dirGiven(s));
  unique('cell dir', real, (s, other, k) => {
    const linked = [s, other].filter((x) => dirGiven(x) !== k);
    return `${k}${linked.length ? ` (${linked.map((x) => `${x.name}'s ${dirGiven(x)}`).join(' and ')} ${linked.length > 1 ? 'are symlinks' : 'is a symlink'} to it)` : ''}`;
  });
  unique('health port', (s) => `${canonicalHost(s.config.health.host)}:${s.config.health.port}`, (s, other) => {
    const [a, b] = [s.config.health.host, other.config.health.host];
    return a === b ? `${a}:${s.config.health.port}` : `${s.config.health.port} (${a} and ${b} are one host)`;
  });
  return {
    file,
    name: spec.name ?? path.basename(file).replace(/\.ya?ml$/i, ''),
    to: spec.to ?? null,
    changelog: spec.changelog ? (isUrl(spec.changelog) ? spec.changelog : path.resolve(base, spec.changelog)) : null,
    stateDir: spec.state.dir ? path.resolve(base, spec.state.dir) : null,
    mirror: spec.mirror ?? null,
    aha: spec.aha ?? null,
    services,
  };
}

/** The devops guide's tier of a kind (0 = first). */
export const tierOf = (kind: ServiceKind) => TIERS.findIndex((t) => (t.kinds as readonly string[]).includes(kind));
