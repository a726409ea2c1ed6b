import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { loadConfig, MAX_CONFIG_BYTES } from '../config/load.js';
import { parseDuration } from '../units.js';
import type { SynupConfig } from '../config/schema.js';
import { errorMessage, SynupError, usageError } from '../errors.js';
import { readBoundedText } from '../fsutil.js';
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
 * Reads and checks a deployment file, then every service's synup.yaml. Everything that can be checked without
 * touching a service is: names unique, each mirror's leader exists and is a leader of the same kind, cell dirs and
 * health ports distinct, mirror commands present when there are mirrors. `env`: where SYNUP_HEALTH_PASSWORD is read.
 */
export function loadDeployment(given: string, cwd: string, env: NodeJS.ProcessEnv = {}): Deployment {
  if (given.trim() === '') throw usageError('--file was given an empty path', 'pass the path of a deployment.yaml');
  const file = path.resolve(cwd, given);
  if (!existsSync(file)) throw usageError(`deployment file ${file} does not exist`, 'pass --file <deployment.yaml> (default ./deployment.yaml)');
  const text = readBoundedText(file, { what: 'deployment file', noun: 'a deployment file', maxBytes: MAX_CONFIG_BYTES, hint: 'pass a deployment.yaml (a regular file) with --file' });
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message.split('\n')[0] : errorMessage(error);
    throw usageError(`deployment ${file} is not valid YAML: ${detail}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw usageError(`deployment ${file}: expected a mapping with a services: list at the top level`);
  const parsed = deploymentSchema.safeParse(raw);
  if (!parsed.success) throw fileError(file, parsed.error);
  const spec = parsed.data;
  checkStructure(file, spec);
  const services = loadServices(file, spec, env);
  const base = path.dirname(file);
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

type DeploymentSpec = z.output<typeof deploymentSchema>;
const where = (file: string, i: number, name: string) => `deployment ${file}: services.${i} (${name})`;

/**
 * The file's own structure, checked before any service's synup.yaml is read (a big file with a mistake in its last
 * line is refused at once): names unique, each mirror's leader exists and is a leader of the same kind and version,
 * one promoted mirror per leader, mirror commands present when there are mirrors, urls for a failure promotion.
 */
function checkStructure(file: string, spec: DeploymentSpec): void {
  const index = new Map<string, number>();
  spec.services.forEach((s, i) => {
    if (index.has(s.name)) throw usageError(`deployment ${file}: services.${i}: name ${JSON.stringify(s.name)} is already used by services.${index.get(s.name)}`, 'give every service its own name');
    index.set(s.name, i);
  });
  const byName = new Map(spec.services.map((s) => [s.name, s]));
  const promoted = new Map<string, string>();
  const mirrored = new Set<string>();
  spec.services.forEach((s, i) => {
    if (!s.mirrorOf) return;
    const leader = byName.get(s.mirrorOf);
    if (!leader) throw usageError(`${where(file, i, s.name)}: mirrorOf ${JSON.stringify(s.mirrorOf)} names no service of this deployment`, `known: ${listNames(spec)}`);
    if (leader === s) throw usageError(`${where(file, i, s.name)}: a service cannot mirror itself`);
    if (leader.mirrorOf) throw usageError(`${where(file, i, s.name)}: mirrorOf ${leader.name}, which is itself a mirror of ${leader.mirrorOf}`, `name the leader: mirrorOf: ${leader.mirrorOf}`);
    if (leader.kind !== s.kind) throw usageError(`${where(file, i, s.name)}: a ${s.kind} cannot mirror ${leader.name} (kind ${leader.kind})`);
    if (s.to !== leader.to) throw usageError(`${where(file, i, s.name)}: a mirror goes to its leader's version (to: ${leader.to ?? 'the deployment\'s'}), not ${s.to ?? 'the deployment\'s'}`);
    mirrored.add(leader.name);
  });
  spec.services.forEach((s, i) => {
    if (s.promote === undefined) return;
    if (!s.mirrorOf) throw usageError(`${where(file, i, s.name)}: promote: is only for a mirror (it names the mirror that becomes the leader)`, 'set promote: true on one mirror of a leader, or remove it');
    if (!s.promote) return;
    if (promoted.has(s.mirrorOf)) throw usageError(`${where(file, i, s.name)}: promote: true is already set on ${promoted.get(s.mirrorOf)}, another mirror of ${s.mirrorOf}`, 'one mirror per leader is promoted');
    promoted.set(s.mirrorOf, s.name);
  });
  if (!spec.mirror && mirrored.size) {
    throw usageError(`deployment ${file}: mirror: is missing; it says how to read a service's nexus index and promote a mirror`, 'add mirror: { nexusIndex: [argv…], promote: [argv…] } (see README.md "Deployments")');
  }
  if (spec.mirror?.promotion === 'failure') {
    const lacking = spec.services.find((s) => (mirrored.has(s.name) || s.mirrorOf) && !s.url);
    if (lacking) throw usageError(`deployment ${file}: ${lacking.name} has no url:, which mirror.promotion: failure needs (the old leader is pointed at the new one)`, 'add url: tcp://root:<password>@<host>:<dmon port>/ to every service of a mirrored lane');
  }
}

const listNames = (spec: DeploymentSpec) => {
  const names = spec.services.map((x) => x.name);
  return names.length > 20 ? `${names.slice(0, 20).join(', ')} … (${names.length} in all)` : names.join(', ');
};

/**
 * Each service's own synup.yaml, read in file order; two services on one cell dir or health port are refused as soon
 * as the second is read. One dir or port reached two ways is still one: cell dirs compared by their real path
 * (symlinks resolved), health ports by host with every loopback name (localhost, 127.0.0.1, ::1) one host.
 * `env`: where SYNUP_HEALTH_PASSWORD is read.
 */
function loadServices(file: string, spec: DeploymentSpec, env: NodeJS.ProcessEnv): DeploymentService[] {
  const base = path.dirname(file);
  /** Per key, the first service to claim it and how it wrote it (its dir as given, its health host). */
  const owners = { 'cell dir': new Map<string, { name: string; as: string }>(), 'health port': new Map<string, { name: string; as: string }>() };
  const claim = (what: keyof typeof owners, key: string, name: string, as: string, text: (owner: { name: string; as: string }) => string) => {
    const owner = owners[what].get(key);
    if (owner !== undefined) throw usageError(`deployment ${file}: ${name} and ${owner.name} have the same ${what} ${text(owner)}`, 'each service has its own');
    owners[what].set(key, { name, as });
  };
  const services: DeploymentService[] = spec.services.map((s, i) => {
    const configFile = path.resolve(base, s.config);
    if (!existsSync(configFile)) throw usageError(`${where(file, i, s.name)}: config ${configFile} does not exist`, "each service names its own synup.yaml (cell.dir, service adapter, health)");
    let config: SynupConfig;
    try {
      // Per-service settings come from its own file; of the SYNUP_* variables only the health password applies to
      // every service that sets none (one admin password across a deployment is common; cell dirs never are).
      config = loadConfig({ file: configFile, cwd: base, env: {} }).config;
      config.health.password ??= env.SYNUP_HEALTH_PASSWORD || undefined;
    } catch (error) {
      throw usageError(`${where(file, i, s.name)}: ${errorMessage(error)}`, 'fix that service\'s synup.yaml');
    }
    if (!config.cell.dir) throw usageError(`${where(file, i, s.name)}: ${configFile} has no cell.dir`, 'set cell.dir to the service storage dir');
    const dir = path.resolve(config.cell.dir);
    const realDir = existsSync(dir) ? realpathSync(dir) : dir;
    claim('cell dir', realDir, s.name, dir, (owner) => {
      const linked = [[s.name, dir], [owner.name, owner.as]].filter(([, given]) => given !== realDir);
      return `${realDir}${linked.length ? ` (${linked.map(([n, given]) => `${n}'s ${given}`).join(' and ')} ${linked.length > 1 ? 'are symlinks' : 'is a symlink'} to it)` : ''}`;
    });
    const { host, port } = config.health;
    claim('health port', `${canonicalHost(host)}:${port}`, s.name, host, (owner) => (owner.as === host ? `${host}:${port}` : `${port} (${host} and ${owner.as} are one host)`));
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
  for (const s of services) if (s.mirrorOf) byName.get(s.mirrorOf)!.mirrors.push(s.name);
  spec.services.forEach((s) => {
    if (s.promote && s.mirrorOf) byName.get(s.mirrorOf)!.promoted = s.name;
  });
  for (const s of services) if (s.mirrors.length) s.promoted ??= s.mirrors[0]!;
  return services;
}

/** The devops guide's tier of a kind (0 = first). */
export const tierOf = (kind: ServiceKind) => TIERS.findIndex((t) => (t.kinds as readonly string[]).includes(kind));
