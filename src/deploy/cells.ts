import type { CommandContext } from '../config/context.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import { openCellSession } from '../runner/session.js';
import type { DeploymentService } from './file.js';
import { mirrorUrlOf, serviceReachedBy, urlReaches, withoutCredentials } from './follow.js';
import { serviceContext } from './prepare.js';

/** A service as its cell says it is now, next to the role the deployment journal expects. */
export interface ServiceView {
  name: string;
  version: string | null;
  /**
   * What the cell says: `leader` / `standalone` (running and active), `mirror of <service>` (running, passive,
   * following it), `stopped` (or `stopped, mirror of <service>` when its config follows one), `running, not
   * answering`…
   */
  role: string;
  /** The journal's role, only where the cell says otherwise. */
  journalRole?: string;
  /** Before any run: the deployment file's role, only where the cell says otherwise. */
  fileRole?: string;
}

/** The journal's role of each service: who leads each mirrored lane now (`leaders`), the others mirrors of it. */
export function journalRole(name: string, leaders: Record<string, string>, services: DeploymentService[]): string {
  const lead = Object.entries(leaders).find(([file, now]) => file === name || now === name || services.find((s) => s.name === name)?.mirrorOf === file);
  if (!lead) return 'standalone';
  return lead[1] === name ? 'leader' : `mirror of ${lead[1]}`;
}

/**
 * Each service's version (from its data) and role as its cell says: running or not (its adapter), active or passive
 * (its health check), and the leader it follows (`mirror:` in cell.mods.yaml over cell.yaml, matched to a service
 * of the file by address or AHA name). Where that differs from the journal, the journal's role too.
 */
export async function observeServices(ctx: CommandContext, services: DeploymentService[], leaders: Record<string, string>, expectedFrom: 'journal' | 'file' = 'journal'): Promise<ServiceView[]> {
  return Promise.all(
    services.map(async (service): Promise<ServiceView> => {
      const version = (await readCellInfo(service.config.cell.dir!).catch(() => null))?.cellVersion ?? null;
      const role = await cellRole(ctx, service, services, leaders);
      const expected = journalRole(service.name, leaders, services);
      const agrees = role === expected || role === `stopped, ${expected}`;
      return { name: service.name, version, role, ...(agrees ? {} : { [expectedFrom === 'journal' ? 'journalRole' : 'fileRole']: expected }) };
    }),
  );
}

async function cellRole(ctx: CommandContext, service: DeploymentService, services: DeploymentService[], leaders: Record<string, string>): Promise<string> {
  const mirrored = service.mirrorOf !== null || service.mirrors.length > 0;
  let follows: string | null = null;
  try {
    follows = mirrorUrlOf(service.config.cell.dir!);
  } catch {
    follows = null;
  }
  const lane = services.filter((s) => s !== service && (s.name === service.mirrorOf || s.mirrorOf === service.name || (service.mirrorOf !== null && s.mirrorOf === service.mirrorOf)));
  const followed = (): string => {
    if (!follows) return 'no leader (no mirror: in its cell.yaml)';
    const reached = lane.filter((s) => urlReaches(follows!, s));
    // An AHA name is answered to by whichever service leads under it now: the journal cannot tell, the others can.
    if (reached.length === 1) return reached[0]!.name;
    const current = reached.find((s) => Object.values(leaders).includes(s.name));
    if (current) return current.name;
    return serviceReachedBy(follows, services.filter((s) => s !== service))?.name ?? withoutCredentials(follows);
  };
  try {
    const session = openCellSession(serviceContext(ctx, service, 'leader').config());
    const status = await session.adapter.status();
    if (!status.running) return follows ? `stopped, mirror of ${followed()}` : 'stopped';
    if (session.config.health.check === 'tool') return follows ? `mirror of ${followed()}` : mirrored ? 'leader' : 'standalone';
    const health = await session.health.check();
    if (health.active) return mirrored ? 'leader' : 'standalone';
    if (/not active \(passive/.test(health.detail)) return `mirror of ${followed()}`;
    return `running, not answering (${health.detail})`;
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message : String(error)})`;
  }
}
