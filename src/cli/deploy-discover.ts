import { parse as parseYaml } from 'yaml';
import { usageError } from '../errors.js';
import { describeRole, queryAha, withoutPassword, type AhaQuery, type AhaService } from '../deploy/aha.js';
import { ahaQueryFor, loadDeployment, SERVICE_KINDS } from '../deploy/file.js';
import type { CommandContext } from '../config/context.js';
import { emitJson, printable, say, table } from '../ui/output.js';

interface DiscoverFlags {
  file: string;
  ahaUrl?: string;
}

/** A YAML scalar as it must be written to read back as the same string (`00` would read as a number). */
const scalar = (value: string) => (parseYaml(value) === value && !/[{}[\],#:]/.test(value) ? value : JSON.stringify(value));

/** The kind a service's name says (`00.cortex` → cortex); AHA does not record kinds. */
const kindFromName = (s: AhaService) => [...SERVICE_KINDS].sort((a, b) => b.length - a.length).find((k) => `${s.name}.${s.leaderAlias ?? ''}`.split(/[.-]/).includes(k)) ?? null;

/**
 * A deployment.yaml `services:` list from AHA's view: names (AHA's, without the network), ahaName, mirrorOf from the
 * leader aliases. What AHA cannot know is marked CHANGE-ME: each service's synup.yaml, a kind the name does not say.
 */
export function servicesFragment(view: AhaService[]): string {
  const short = (full: string) => full.slice(0, full.lastIndexOf('.'));
  const lines = [
    '# From AHA: names and mirrorOf. CHANGE-ME: each service\'s own synup.yaml (cell.dir, adapter, health), and every',
    '# kind its name does not tell. AHA is not in its own list: add it (kind: aha) to upgrade it first.',
    'services:',
  ];
  const ordered = [...view.filter((s) => s.role !== 'mirror'), ...view.filter((s) => s.role === 'mirror')];
  for (const s of ordered) {
    const kind = kindFromName(s);
    const fields = [`name: ${scalar(short(s.name))}`, `kind: ${kind ?? 'CHANGE-ME'}`, `config: ${scalar(`CHANGE-ME/${short(s.name)}.synup.yaml`)}`, `ahaName: ${scalar(s.name)}`];
    if (s.role === 'mirror' && s.leader) fields.push(`mirrorOf: ${scalar(short(s.leader))}`);
    const note = s.role === 'unknown' ? `  # ${describeRole(s)}: set its role by hand` : '';
    lines.push(`  - { ${fields.join(', ')} }${note}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * `synup deploy discover`: AHA's services, their roles and readiness (a table, or --json), and a `services:` fragment
 * on stdout to start a deployment file from. `--aha-url` asks AHA without a deployment file (the default command:
 * python3 on PATH, PYTHONPATH from the environment); otherwise the file's aha: section is used.
 */
export async function runDeployDiscover(ctx: CommandContext, _args: string[], flags: DiscoverFlags): Promise<number> {
  let query: AhaQuery;
  if (flags.ahaUrl !== undefined) {
    query = ahaQueryFor(flags.ahaUrl);
  } else {
    const deployment = loadDeployment(flags.file, ctx.cwd, ctx.env);
    if (!deployment.aha) throw usageError(`deployment ${deployment.file} has no aha: section`, 'add aha: { url: <AHA telepath URL> } (see README.md "Deployments"), or pass --aha-url');
    query = deployment.aha;
  }
  const view = await queryAha(query, ctx.env);
  const fragment = servicesFragment(view);
  if (ctx.out.json) {
    emitJson(ctx.out, { aha: withoutPassword(query.url), services: view, fragment });
    return 0;
  }
  say(ctx.out, `AHA at ${withoutPassword(query.url)}: ${view.length} service(s)`);
  const rows = view.map((s) => [s.name, s.leaderAlias ?? '-', describeRole(s), s.ready ? 'yes' : 'no', s.online ? 'yes' : 'no', s.url ?? '-']);
  say(ctx.out, table(['SERVICE', 'LEADER ALIAS', 'ROLE', 'READY', 'ONLINE', 'URL'], rows));
  ctx.out.stdout.write(printable(fragment)); // AHA's names are outside text
  return 0;
}
