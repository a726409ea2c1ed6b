import { execa } from 'execa';
import { z } from 'zod';
import { errorMessage, SynupError } from '../errors.js';
import { outputCut, TOOL_OUTPUT_LIMITS } from '../proc.js';
import { formatDuration } from '../units.js';

/**
 * `{script}` of aha.command: prints AHA's service entries (`AhaApi.getAhaSvcs()`, as `synapse.tools.aha.list` reads
 * them) as one JSON array. The URL is never printed: it may hold a password.
 */
export const AHA_SERVICES_SCRIPT = `import asyncio, json, sys
import synapse.telepath as s_telepath
async def main(url):
    async with s_telepath.withTeleEnv():
        async with await s_telepath.openurl(url) as aha:
            if 'synapse.lib.aha.AhaApi' not in aha._getClasses():
                sys.exit('the service at aha.url is not an AHA server')
            print(json.dumps([svc async for svc in aha.getAhaSvcs()], default=str))
asyncio.run(main(sys.argv[1]))`;

/** The deployment file's aha: section, defaults applied (deploy/file.ts). */
export interface AhaQuery {
  url: string;
  /** argv template: `{url}`, `{script}` (AHA_SERVICES_SCRIPT). */
  command: string[];
  env: Record<string, string>;
  timeout: number;
}

/** One entry of AHA's registry: a service (`00.cortex`), or a leader alias (`cortex`: svcname = svcinfo.leader). */
const entrySchema = z.object({
  svcname: z.string().min(1),
  svcnetw: z.string().min(1),
  svcinfo: z.object({
    run: z.string().nullish(),
    iden: z.string().nullish(),
    leader: z.string().nullish(),
    ready: z.boolean().nullish(),
    online: z.unknown().optional(),
    urlinfo: z.object({ scheme: z.string().nullish(), host: z.string().nullish(), port: z.number().nullish() }).nullish(),
  }),
});
const entriesSchema = z.array(entrySchema);

/**
 * A service as AHA sees it. `role`: leader = the run its leader alias points at; mirror = another run under the same
 * alias; standalone = no `aha:leader`; unknown = its alias points at no run AHA knows (the leader never registered).
 */
export interface AhaService {
  /** `<aha:name>.<aha:network>`, e.g. 00.cortex.synapse. */
  name: string;
  /** Its leader alias with the network (`cortex.synapse`: what `aha://cortex...` resolves), or null. */
  leaderAlias: string | null;
  role: 'leader' | 'mirror' | 'standalone' | 'unknown';
  /** The service its leader alias points at now (itself when it leads), or null. */
  leader: string | null;
  ready: boolean;
  online: boolean;
  /** Where AHA says it listens: scheme://host:port/, never a user or password. */
  url: string | null;
}

/**
 * `user:password@` out of every URL in a text (for messages and output). Linear in the text: a scheme is only tried
 * where a run of scheme characters begins (the lookbehind), so a long line without `://` is scanned once, not once per
 * character (a 200 MB line from a failing tool took hours; now ~2 s).
 */
export const withoutPassword = (text: string) => text.replace(/(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/\/)([^/@:\s]*):[^/@\s]*@/gi, '$1$2@');

const fill = (query: AhaQuery) => query.command.map((arg) => arg.replace(/\{(url|script)\}/g, (_, key: string) => (key === 'url' ? query.url : AHA_SERVICES_SCRIPT)));

/** The command as it can be shown: the script and any password left out. */
const shown = (query: AhaQuery) => query.command.map((arg) => (arg === '{script}' ? '<script>' : withoutPassword(arg.replace(/\{url\}/g, query.url)))).join(' ');

/** Runs aha.command; AHA's registry entries, validated. Nothing is written anywhere. */
export async function queryAha(query: AhaQuery, env: NodeJS.ProcessEnv): Promise<AhaService[]> {
  const argv = fill(query);
  const result = await execa(argv[0]!, argv.slice(1), { env: { ...env, ...query.env }, timeout: query.timeout, reject: false, stdin: 'ignore', maxBuffer: TOOL_OUTPUT_LIMITS });
  const hint = 'check aha.url, aha.command and aha.env (PYTHONPATH of a Synapse install) in the deployment file, or with --aha-url that python3 on PATH imports synapse; `synup deploy discover` runs the same query';
  const cut = outputCut(result);
  if (result.exitCode !== 0 || result.timedOut || cut) {
    const why = cut ?? (result.timedOut ? `no answer within ${formatDuration(query.timeout)}` : result.exitCode === undefined && !result.signal ? `cannot run ${argv[0]} (${result.code ?? 'not started'})` : `exit ${result.exitCode ?? result.signal}`);
    const last = withoutPassword(`${result.stderr}\n${result.stdout}`.trim().split('\n').at(-1) ?? '');
    throw new SynupError('failed', `asking AHA failed (${shown(query)}): ${why}${last ? `: ${last.slice(0, 300)}` : ''}`, { hint });
  }
  let raw: unknown;
  const text = result.stdout.trim();
  try {
    raw = JSON.parse(text.split('\n').at(-1) ?? '');
  } catch (error) {
    throw new SynupError('failed', `aha.command printed no JSON array on its last line (${errorMessage(error)})`, { hint });
  }
  const parsed = entriesSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SynupError('failed', `aha.command printed JSON that is not AHA's service list: ${issue.path.join('.') || '(top level)'}: ${issue.message}`, { hint });
  }
  return topology(parsed.data);
}

/** Registry entries → each service with its role (as `synapse.tools.aha.list` decides "leader"). */
export function topology(entries: z.output<typeof entriesSchema>): AhaService[] {
  const full = (name: string, network: string) => `${name}.${network}`;
  const isAlias = (e: (typeof entries)[number]) => e.svcinfo.leader != null && e.svcname === e.svcinfo.leader;
  const aliasRun = new Map(entries.filter(isAlias).map((e) => [full(e.svcname, e.svcnetw), e.svcinfo.run ?? null]));
  const services = entries.filter((e) => !isAlias(e));
  return services
    .map((e): AhaService => {
      const alias = e.svcinfo.leader != null ? full(e.svcinfo.leader, e.svcnetw) : null;
      const run = alias ? aliasRun.get(alias) : undefined;
      const holder = run ? services.find((x) => x.svcinfo.run === run && x.svcnetw === e.svcnetw && x.svcinfo.leader === e.svcinfo.leader) : undefined;
      const role = !alias ? 'standalone' : !holder ? 'unknown' : holder === e ? 'leader' : 'mirror';
      const u = e.svcinfo.urlinfo;
      return {
        name: full(e.svcname, e.svcnetw),
        leaderAlias: alias,
        role,
        leader: holder ? full(holder.svcname, holder.svcnetw) : null,
        ready: e.svcinfo.ready === true,
        online: e.svcinfo.online != null,
        url: u?.scheme && u.host && u.port != null ? `${u.scheme}://${u.host}:${u.port}/` : null,
      };
    })
    .sort((a, b) => (a.leaderAlias ?? a.name).localeCompare(b.leaderAlias ?? b.name) || (a.role === 'leader' ? -1 : b.role === 'leader' ? 1 : a.name.localeCompare(b.name)));
}

/** What a role looks like in a table: `leader of cortex.synapse`, `mirror (cortex.synapse → 00.cortex.synapse)`. */
export function describeRole(s: AhaService): string {
  if (s.role === 'standalone') return 'standalone';
  if (s.role === 'leader') return `leader (${s.leaderAlias})`;
  if (s.role === 'mirror') return `mirror of ${s.leader} (${s.leaderAlias})`;
  return `unknown: ${s.leaderAlias} points at no registered run`;
}
