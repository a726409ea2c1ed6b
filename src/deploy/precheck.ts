import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { refusal, usageError } from '../errors.js';
import { readNexusHistory } from '../lmdb/nexus.js';
import type { Deployment, DeploymentService } from './file.js';
import { ahaNameOfUrl, cellConf, endpointOfUrl, endpointsOf, canonicalHost, serviceReachedBy, urlReaches, withoutCredentials } from './follow.js';

/**
 * What the cells of a mirrored lane say, checked before a plan or a run touches anything: whom each mirror follows
 * (`mirror:` in its cell.mods.yaml over cell.yaml) and whether its nexus log is its leader's. Without these, a mirror
 * of another (busier) leader passed its catch-up on index numbers alone and was promoted.
 */

/** The `mirror:` a cell follows and the file that sets it (cell.mods.yaml over cell.yaml), or null. */
function mirrorSetting(cellDir: string): { url: string; file: string } | null {
  cellConf(cellDir); // both files parsed: one that is not YAML is refused (exit 2) naming it
  for (const file of ['cell.mods.yaml', 'cell.yaml']) {
    const full = path.join(cellDir, file);
    if (!existsSync(full)) continue;
    const conf = readYamlMap(full);
    if (!('mirror' in conf)) continue;
    return typeof conf.mirror === 'string' && conf.mirror.trim() !== '' ? { url: conf.mirror.trim(), file } : null;
  }
  return null;
}

function readYamlMap(file: string): Record<string, unknown> {
  const value: unknown = parseYaml(readFileSync(file, 'utf8'));
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The mirrors of each leader, the promoted one first. */
function lanes(deployment: Deployment): { leader: DeploymentService; mirrors: DeploymentService[] }[] {
  const byName = new Map(deployment.services.map((s) => [s.name, s]));
  return deployment.services.filter((s) => s.mirrors.length).map((leader) => ({ leader, mirrors: leader.mirrors.map((m) => byName.get(m)!) }));
}

/**
 * Graceful promotion: a mirror that is not promoted must follow the leader by its AHA name, or it stays on the old
 * leader's address after the hand-off (found only at follow-new-leader, the mirror left stale). Bad input, exit 2.
 */
export function refuseStrandedFollowers(deployment: Deployment): void {
  if (deployment.mirror?.promotion !== 'graceful') return;
  for (const { leader, mirrors } of lanes(deployment)) {
    for (const m of mirrors.filter((x) => x.name !== leader.promoted)) {
      const setting = mirrorSetting(m.config.cell.dir!);
      if (!setting || ahaNameOfUrl(setting.url) !== null) continue;
      throw usageError(
        `deployment ${deployment.file}: ${m.name} follows ${withoutCredentials(setting.url)} (mirror: in its ${setting.file}), an address: with mirror.promotion: graceful it would stay on ${leader.name} after ${leader.promoted} is promoted`,
        `point ${m.name} at the leader's AHA name (mirror: aha://…), or use mirror.promotion: failure (synup re-points every mirror)`,
      );
    }
  }
}

/** Where a service answers, for a message: its first loopback-or-not endpoint as host:port. */
const answersAt = (s: DeploymentService) => {
  const e = endpointsOf(s)[0]!;
  return `${canonicalHost(e.host) === 'loopback' ? '127.0.0.1' : e.host}:${e.port}`;
};

/**
 * Each mirror follows its file leader, by its `mirror:` (exit 3 when it names another service of the file, a local
 * address where its leader does not answer, an AHA name its leader does not answer to, or nothing), and its nexus log
 * is its leader's (read from both cells' files: a mirror ahead of its leader, or with another entry at an offset both
 * hold, follows another leader's history). A `mirror:` synup cannot place (a host name it does not know) is left to
 * the history check.
 */
export async function refuseMirrorsOfAnotherLeader(deployment: Deployment): Promise<void> {
  for (const { leader, mirrors } of lanes(deployment)) {
    for (const m of mirrors) {
      const setting = mirrorSetting(m.config.cell.dir!);
      if (!setting) {
        throw refusal(`${m.name} follows no leader (no mirror: in its cell.yaml or cell.mods.yaml), though the deployment file makes it a mirror of ${leader.name}`, `set mirror: in ${m.name}'s cell.yaml to ${leader.name}'s URL, or remove mirrorOf: ${leader.name} from the deployment file`);
      }
      const hint = `point ${m.name}'s mirror: at ${leader.name} (then let it catch up), or fix mirrorOf: in the deployment file`;
      if (!urlReaches(setting.url, leader)) {
        const other = serviceReachedBy(setting.url, deployment.services.filter((s) => s !== m && s !== leader));
        if (other) throw refusal(`${m.name} follows ${other.name} (mirror: ${withoutCredentials(setting.url)} in its ${setting.file}), not ${leader.name}, the leader the deployment file gives it`, hint);
        const target = endpointOfUrl(setting.url);
        const local = target !== null && canonicalHost(target.host) === 'loopback' && endpointsOf(leader).some((e) => canonicalHost(e.host) === 'loopback');
        // An AHA name its leader does not answer to, when the leader declares its alias (aha:leader) at all.
        const otherAlias = ahaNameOfUrl(setting.url) !== null && typeof cellConf(leader.config.cell.dir!)['aha:leader'] === 'string';
        if (local || otherAlias) {
          throw refusal(`${m.name} follows ${withoutCredentials(setting.url)} (mirror: in its ${setting.file}), not ${leader.name}, the leader the deployment file gives it (${leader.name} answers at ${answersAt(leader)})`, hint);
        }
      }
      await refuseOtherHistory(m, leader);
    }
  }
}

/** The mirror's nexus log must be a prefix of its leader's: not ahead of it, the same entry at the last offset both hold. */
async function refuseOtherHistory(m: DeploymentService, leader: DeploymentService): Promise<void> {
  const [mdir, ldir] = [m.config.cell.dir!, leader.config.cell.dir!];
  if (![mdir, ldir].every((d) => existsSync(path.join(d, 'slabs', 'nexus.lmdb', 'data.mdb')))) return;
  // The mirror first: it only ever holds what its leader committed before, so read later, the leader is never behind.
  // Files synup cannot read (another owner's, without the rights) cannot tell: the catch-up's index check remains.
  const read = (dir: string, offset: number | null) => readNexusHistory(dir, offset).catch(() => null);
  const mirror = await read(mdir, null);
  const lead = mirror && (await read(ldir, null));
  if (!mirror || !lead) return;
  const hint = `${m.name} was made from another cell's data or follows another leader: rebuild it from a backup of ${leader.name} (\`synup backup\`, \`synup restore\`, mirror: ${leader.name}'s URL)`;
  if (mirror.reading.index > lead.reading.index) {
    throw refusal(`${m.name}'s nexus log is not ${leader.name}'s: ${m.name} is at nexus index ${mirror.reading.index}, ahead of its leader ${leader.name} (${lead.reading.index}): it holds entries ${leader.name} never wrote`, hint);
  }
  const last = mirror.reading.index - 1;
  if (last < 0) return;
  const [mine, theirs] = await Promise.all([read(mdir, last), read(ldir, last)]);
  // A log that does not keep that entry (nexslog:en: false, rotated away) cannot tell: the index check above stands.
  if (!mine?.entry || !theirs?.entry || mine.entry === theirs.entry) return;
  throw refusal(`${m.name}'s nexus log is not ${leader.name}'s: their entries at nexus offset ${last} differ`, hint);
}
