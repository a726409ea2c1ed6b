import { ACTIVE_PATH, baseUrl, checkActive, describeTrust, trustFor, type ActiveCheck } from '../health/index.js';
import { readCellGuid, readCellInfo } from '../lmdb/cellinfo.js';
import { Journal } from '../runner/journal.js';
import { healthToolCommand } from '../health/tool-command.js';
import { openCellSession } from '../runner/session.js';
import { summarizeRun } from '../runner/summary.js';
import { errorMessage } from '../errors.js';
import type { CommandContext } from '../config/context.js';
import { columns, emitJson, say } from '../ui/output.js';

export interface CellStatus {
  cell: { name: string; dir: string; guid: string | null };
  adapter: string;
  running: boolean;
  pid: number | null;
  detail: string | null;
  /** What the adapter is set to run (pid file, EnvironmentFile, image tag). */
  configuredVersion: string | null;
  /** What the running service reports (a Storm call); null when stopped or it will not tell (see serviceVersionError). */
  serviceVersion: string | null;
  /** Why the running service's version is unknown: no credentials, refused, no answer. */
  serviceVersionError: string | null;
  /** What the data says (slabs/cell.lmdb cell:info, read-only: also while the service runs). */
  dataVersion: string | null;
  dataError: string | null;
  active: (ActiveCheck & { trust: string }) | null;
  lastRun: { id: string; from: string; to: string; outcome: string; startedAt: string; endedAt: string | null } | null;
}

/** `synup status`: the configured cell — running or not, versions, active over HTTPS, adapter, last run. */
export async function runStatus(ctx: CommandContext): Promise<number> {
  const session = openCellSession(ctx.config());
  const { config, cellDir } = session;
  const service = await session.adapter.status();
  const target = { host: config.health.host, port: config.health.port, cellDir, ca: config.health.ca, insecure: config.health.insecure };
  const status: CellStatus = {
    cell: { name: session.cellName, dir: cellDir, guid: await readCellGuid(cellDir) },
    adapter: session.adapter.name,
    running: service.running,
    pid: service.pid ?? null,
    detail: service.detail ?? null,
    configuredVersion: service.configuredVersion ?? null,
    serviceVersion: null,
    serviceVersionError: null,
    dataVersion: null,
    dataError: null,
    active: null,
    lastRun: null,
  };
  if (service.running && config.health.check === 'tool') {
    status.active = { ...(await session.health.check()), url: healthToolCommand(config, session.adapter).join(' '), trust: 'not used (health.check: tool)' };
  } else if (service.running) {
    const trust = describeTrust(trustFor(target));
    status.active = { ...(await checkActive(target).catch((error) => ({ active: false, detail: errorMessage(error), url: baseUrl(target) + ACTIVE_PATH }))), trust };
    if (status.active.active) {
      try {
        status.serviceVersion = await session.health.readVersion();
        if (status.serviceVersion === null) status.serviceVersionError = config.health.password === undefined ? 'no credentials: set SYNUP_HEALTH_PASSWORD (user health.username, default root)' : 'the service refused the credentials';
      } catch (error) {
        status.serviceVersionError = errorMessage(error);
      }
    }
  }
  // Read-only, also while the service runs (as confirm does): a floating image tag (v2.x.x) tells no version.
  try {
    status.dataVersion = (await readCellInfo(cellDir)).cellVersion;
  } catch (error) {
    status.dataError = errorMessage(error);
  }
  if (Journal.exists(session.stateDir)) {
    const journal = Journal.open(session.stateDir);
    try {
      const run = journal.latest(cellDir);
      if (run) {
        const s = summarizeRun(run);
        status.lastRun = { id: s.id, from: s.from, to: s.to, outcome: s.outcome, startedAt: s.startedAt, endedAt: s.endedAt };
      }
    } finally {
      await journal.close();
    }
  }
  if (ctx.out.json) emitJson(ctx.out, status);
  else say(ctx.out, render(status));
  return 0;
}

function render(s: CellStatus): string {
  const versions = [
    s.configuredVersion && `${s.configuredVersion} configured`,
    s.serviceVersion && `${s.serviceVersion} reported by the service`,
    s.serviceVersionError && `service version unknown (${s.serviceVersionError})`,
    s.dataVersion && `${s.dataVersion} in the data`,
    s.dataError && `data unreadable: ${s.dataError}`,
  ].filter(Boolean);
  const rows: [string, string][] = [
    ['adapter', s.adapter],
    ['running', s.running ? `yes${s.pid ? `, pid ${s.pid}` : ''}` : 'no'],
    ['detail', s.detail ?? ''],
    ['version', versions.join('; ') || 'unknown'],
    ['active', s.active ? `${s.active.active ? 'yes' : `no (${s.active.detail})`} — ${s.active.url}, certificate ${s.active.trust}` : 'no (not running)'],
    ['last run', s.lastRun ? `${s.lastRun.id} ${s.lastRun.from} → ${s.lastRun.to} ${s.lastRun.outcome}` : 'none'],
  ];
  return [`${s.cell.name}  ${s.cell.dir}${s.cell.guid ? `  (guid ${s.cell.guid})` : ''}`, ...columns(rows.filter(([, v]) => v !== ''), { indent: '  ', minWidths: [9] })].join('\n');
}
