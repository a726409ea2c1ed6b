import { statSync } from 'node:fs';
import path from 'node:path';
import { cellConf, withoutCredentials } from '../config/cell-conf.js';
import { errorMessage } from '../errors.js';
import type { DefragChoice } from '../plan/index.js';
import type { CellSession } from './session.js';

/**
 * Which defrag an upgrade of this cell does (issue 24), decided before the run from what is readable: the setting, the
 * adapter, the cell's own cell.yaml/cell.mods.yaml. Online needs a shadow synup can run beside the cell (the process
 * adapter), a nexus log to follow, a telepath URL with credentials, Storm to ask for Synapse's backup (a Cortex), and
 * that backup on the cell's filesystem.
 */
export function chooseDefrag(session: CellSession, requested: 'cold' | 'online'): DefragChoice {
  const cold = (reason: string): DefragChoice => ({ mode: 'cold', requested, reason });
  if (requested === 'cold') return cold('upgrade.defrag is cold (the default; --defrag online to follow the cell with a shadow mirror)');
  const problem = onlineDefragProblem(session);
  if (typeof problem === 'string') return cold(`online defrag cannot apply: ${problem}`);
  return { mode: 'online', requested, reason: 'upgrade.defrag is online: a compacted shadow mirror follows the running cell and is swapped in at downtime', follows: withoutCredentials(problem.leaderUrl) };
}

/** Where the shadow starts from and what it follows; a string says why online defrag cannot apply. */
export function onlineDefragProblem(session: CellSession): string | { leaderUrl: string; backupRoot: string } {
  const { adapter, config, cellDir } = session;
  if (config.cell.kind !== 'cortex') return `the shadow starts from the cell's own backup, asked through Storm ($lib.backup.run), and only a Cortex has Storm (cell.kind is ${config.cell.kind})`;
  if (adapter.remoteData) return 'the data is on a volume synup reaches only through Jobs';
  if (adapter.name !== 'process') return `the shadow mirror runs only beside a process-adapter cell for now (this cell uses ${adapter.name})`;
  if (!config.service.process?.command) return 'service.process.command is not set, so synup cannot start a shadow';
  let conf: Record<string, unknown>;
  try {
    conf = cellConf(cellDir);
  } catch (error) {
    return errorMessage(error);
  }
  if (typeof conf.mirror === 'string' && conf.mirror.trim() !== '') return 'the cell is itself a mirror (mirror: in its cell.yaml/cell.mods.yaml)';
  if (conf['nexslog:en'] === false) return 'nexslog:en is false: the cell keeps no nexus log for a mirror to follow';
  const leaderUrl = shadowLeaderUrl(session, conf);
  if (typeof leaderUrl !== 'string') return leaderUrl.problem;
  const backupRoot = backupRootOf(cellDir, conf);
  if (typeof backupRoot !== 'string') return backupRoot.problem;
  return { leaderUrl, backupRoot };
}

/**
 * The telepath URL the shadow follows: upgrade.onlineDefrag.leaderUrl, else the cell's `dmon:listen` (tcp://, a
 * wildcard host as loopback) with health.username/health.password. Holds the password: never printed or journaled.
 */
function shadowLeaderUrl(session: CellSession, conf: Record<string, unknown>): string | { problem: string } {
  const { config } = session;
  if (config.upgrade.onlineDefrag.leaderUrl) return config.upgrade.onlineDefrag.leaderUrl;
  const listen = conf['dmon:listen'];
  if (typeof listen !== 'string' || listen.trim() === '') return { problem: 'the cell has no telepath listener (dmon:listen) for the shadow to follow; set upgrade.onlineDefrag.leaderUrl' };
  let url: URL;
  try {
    url = new URL(listen);
  } catch {
    return { problem: `dmon:listen ${JSON.stringify(listen)} is not a URL; set upgrade.onlineDefrag.leaderUrl` };
  }
  if (url.protocol !== 'tcp:' || !url.port) return { problem: `dmon:listen is ${url.protocol}//…: set upgrade.onlineDefrag.leaderUrl to a URL the shadow can log in with` };
  if (config.health.password === undefined) return { problem: 'no health password (health.password or SYNUP_HEALTH_PASSWORD): the shadow logs in to the cell with it, and synup asks the cell for its backup with it' };
  const host = ['0.0.0.0', '::', '[::]', ''].includes(url.hostname) ? '127.0.0.1' : url.hostname;
  const user = encodeURIComponent(config.health.username ?? 'root');
  return `tcp://${user}:${encodeURIComponent(config.health.password)}@${host}:${url.port}/`;
}

/** Where Synapse writes its backups (`backup:dir`, else `<cell>/backups`), if on the cell's filesystem: the shadow is renamed out of it. */
function backupRootOf(cellDir: string, conf: Record<string, unknown>): string | { problem: string } {
  const configured = conf['backup:dir'];
  if (configured !== undefined && configured !== null && (typeof configured !== 'string' || !path.isAbsolute(configured))) {
    return { problem: `backup:dir ${JSON.stringify(configured)} is not an absolute path synup can find` };
  }
  const root = typeof configured === 'string' ? configured : path.join(cellDir, 'backups');
  const deviceOf = (p: string) => {
    try {
      return statSync(p).dev;
    } catch {
      return null;
    }
  };
  const rootDev = deviceOf(root) ?? deviceOf(path.dirname(root));
  if (rootDev !== null && rootDev !== deviceOf(path.dirname(cellDir))) return { problem: `Synapse's backup dir ${root} is on another filesystem than the cell, so its backup cannot be renamed beside it` };
  return root;
}
