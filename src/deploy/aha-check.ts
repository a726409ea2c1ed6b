import path from 'node:path';
import { errorMessage, refusal, SynupError, usageError } from '../errors.js';
import { describeRole, queryAha, type AhaService } from './aha.js';
import type { Deployment, DeploymentService } from './file.js';
import { cellConf } from './follow.js';

/** A service of the file next to AHA's entry for it; AHA itself (kind aha) is not in its own registry. */
export interface AhaMatch {
  service: DeploymentService;
  ahaName: string | null;
  aha: AhaService | null;
}

/**
 * The AHA name a cell registers under: `aha:name`.`aha:network` of its cell.yaml, cell.mods.yaml over it (provisioning
 * writes both names into cell.yaml). null when it has none.
 */
function cellAhaName(cellDir: string): string | null {
  let conf: Record<string, unknown>;
  try {
    conf = cellConf(cellDir);
  } catch (error) {
    throw usageError(`cannot read the AHA name of ${cellDir}: ${errorMessage(error)}`, 'fix it, or set ahaName: for that service in the deployment file');
  }
  const [name, network] = [conf['aha:name'], conf['aha:network']];
  return typeof name === 'string' && typeof network === 'string' ? `${name}.${network}` : null;
}

/**
 * Each service's AHA name: ahaName from the file, else its cell's. A service (other than AHA itself) without one
 * cannot be compared with AHA: refused (exit 2) rather than skipped.
 */
export function ahaNames(deployment: Deployment): Map<string, string | null> {
  const names = new Map<string, string | null>();
  for (const s of deployment.services) {
    if (s.kind === 'aha') {
      names.set(s.name, null);
      continue;
    }
    const name = s.ahaName ?? cellAhaName(s.config.cell.dir!);
    if (!name) {
      throw usageError(`deployment ${deployment.file}: ${s.name} has no AHA name (no ahaName:, and its cell.yaml has no aha:name and aha:network), so aha: cannot check it`, 'set ahaName: <aha:name>.<aha:network> for it (`synup deploy discover` lists the names), or remove aha: from the file');
    }
    names.set(s.name, name);
  }
  return names;
}

/** The file's services next to AHA's view of them. */
export function matchAha(deployment: Deployment, names: Map<string, string | null>, view: AhaService[]): AhaMatch[] {
  return deployment.services.map((service) => {
    const ahaName = names.get(service.name) ?? null;
    return { service, ahaName, aha: ahaName ? (view.find((a) => a.name === ahaName) ?? null) : null };
  });
}

/**
 * Where the file and AHA disagree on who leads and who follows, as a refusal (exit 3), or null. Checked: every service
 * of the file is known to AHA; a service the file upgrades as a leader is not one AHA calls a mirror (roles swapped by
 * a promotion since the file was written), and the reverse; a mirror follows its file leader's alias; and every
 * service AHA lists under a leader alias the file touches is in the file (one left out would stay at the old version
 * following an upgraded leader: read-only).
 */
export function ahaDisagreement(deployment: Deployment, matches: AhaMatch[], view: AhaService[]): SynupError | null {
  const file = path.basename(deployment.file);
  const fileNameOf = (ahaName: string | null) => matches.find((m) => m.ahaName === ahaName)?.service.name ?? null;
  const leaderText = (a: AhaService) => `${a.leaderAlias} is led by ${a.leader}${fileNameOf(a.leader) ? ` (${fileNameOf(a.leader)})` : ''}`;
  const swapHint = (newLeader: string | null, oldLeader: string) =>
    newLeader
      ? `a promotion swapped the roles since ${file} was written: make ${newLeader} the leader (no mirrorOf) and give ${oldLeader} mirrorOf: ${newLeader}`
      : `list the service AHA calls the leader in ${file}, and make ${oldLeader} its mirror`;
  for (const m of matches) {
    if (!m.ahaName) continue;
    if (!m.aha) return refusal(`${m.service.name}: AHA knows no service ${m.ahaName}`, 'check ahaName: (or aha:name and aha:network in its cell.yaml); `synup deploy discover` lists what AHA knows');
  }
  for (const m of matches) {
    const a = m.aha;
    if (!a) continue;
    if (!m.service.mirrorOf && a.role === 'mirror') {
      return refusal(`${file} names ${m.service.name} as a leader, but AHA says ${a.name} is a mirror: ${leaderText(a)}`, swapHint(fileNameOf(a.leader), m.service.name));
    }
    if (m.service.mirrorOf && a.role === 'leader') {
      return refusal(`${file} names ${m.service.name} as a mirror of ${m.service.mirrorOf}, but AHA says ${a.name} leads ${a.leaderAlias}`, swapHint(m.service.name, m.service.mirrorOf));
    }
    if (m.service.mirrorOf) {
      const leader = matches.find((x) => x.service.name === m.service.mirrorOf)!;
      if (leader.aha && leader.aha.leaderAlias !== a.leaderAlias) {
        return refusal(`${file} names ${m.service.name} as a mirror of ${leader.service.name}, but AHA says ${a.name} follows ${a.leaderAlias ?? 'no leader'} and ${leader.aha.name} ${leader.aha.leaderAlias ? `is under ${leader.aha.leaderAlias}` : 'has no leader alias'}`, `set mirrorOf: to the service that leads ${a.leaderAlias ?? 'it'}, as \`synup deploy discover\` shows`);
      }
    }
  }
  const aliases = new Set(matches.map((m) => m.aha?.leaderAlias).filter((x): x is string => !!x));
  for (const alias of aliases) {
    const missing = view.find((a) => a.leaderAlias === alias && !fileNameOf(a.name));
    if (!missing) continue;
    const leader = fileNameOf(missing.leader) ?? missing.leader ?? alias;
    return refusal(
      `AHA knows ${missing.name}, a ${missing.role === 'leader' ? 'leader' : 'mirror'} under ${alias} (led by ${missing.leader ?? 'no registered run'}), which ${file} does not list: it would stay at its version, following an upgraded leader (read-only)`,
      `add it to services: (name, kind, config, ${missing.role === 'mirror' ? `mirrorOf: ${leader}` : 'and the others as its mirrors'}; \`synup deploy discover\` prints a fragment), or remove it from AHA if it is gone for good`,
    );
  }
  return null;
}

/** Before `deploy plan` and `deploy upgrade` touch anything: asks AHA, refuses (exit 3) where the file disagrees. */
export async function refuseIfAhaDisagrees(deployment: Deployment, env: NodeJS.ProcessEnv): Promise<void> {
  if (!deployment.aha) return;
  const names = ahaNames(deployment);
  const view = await queryAha(deployment.aha, env);
  const problem = ahaDisagreement(deployment, matchAha(deployment, names, view), view);
  if (problem) throw problem;
}

/** AHA's role of a file service, for `deploy status`. */
export interface AhaRole {
  name: string | null;
  role: AhaService['role'] | 'aha' | 'not in AHA';
  leader: string | null;
  ready: boolean | null;
  online: boolean | null;
  text: string;
}

/** Each file service's role in AHA, or why AHA could not be asked (status reports it and goes on). */
export async function ahaRoles(deployment: Deployment, env: NodeJS.ProcessEnv): Promise<{ roles: Map<string, AhaRole>; error?: string }> {
  try {
    const names = ahaNames(deployment);
    const view = await queryAha(deployment.aha!, env);
    const roles = new Map(
      matchAha(deployment, names, view).map(({ service, ahaName, aha }): [string, AhaRole] => {
        if (!ahaName) return [service.name, { name: null, role: 'aha', leader: null, ready: null, online: null, text: 'AHA itself' }];
        if (!aha) return [service.name, { name: ahaName, role: 'not in AHA', leader: null, ready: null, online: null, text: `${ahaName} not in AHA` }];
        const state = aha.online ? (aha.ready ? 'ready' : 'not ready') : 'offline';
        return [service.name, { name: aha.name, role: aha.role, leader: aha.leader, ready: aha.ready, online: aha.online, text: `${describeRole(aha)}, ${state}` }];
      }),
    );
    return { roles };
  } catch (error) {
    return { roles: new Map(), error: errorMessage(error) };
  }
}
