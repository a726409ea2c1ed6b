import net from 'node:net';
import { Writable } from 'node:stream';
import type { CommandContext } from '../config/context.js';
import { findUsableBackup } from '../backup/find.js';
import { formatDuration } from '../units.js';
import { errorMessage } from '../errors.js';
import { readCellInfo } from '../lmdb/cellinfo.js';
import type { RehearsalCase, RehearsalResult } from '../runner/rehearsal-report.js';
import { serviceChangelog, serviceContext, type PreparedDeployment } from './prepare.js';

export interface ServiceRehearsal {
  service: string;
  /** What was rehearsed, or why nothing was. */
  summary: string;
  result: Pick<RehearsalResult, 'cases' | 'durationMs' | 'startedAt' | 'ok'> & Partial<RehearsalResult>;
}

/** A TCP port free on the host now, for a scratch service (several services' `health.port + 1` may collide). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const single = (name: string, ok: boolean, text: string, startedAt = new Date()): ServiceRehearsal['result'] => ({
  ok,
  startedAt: startedAt.toISOString(),
  durationMs: Date.now() - startedAt.getTime(),
  cases: [{ name, title: name, durationMs: Date.now() - startedAt.getTime(), ok, ...(ok ? { detail: text } : { error: text }) } satisfies RehearsalCase],
});

/** `synup rehearse`'s module entry, handed in by the command: prints its result, returns its exit code. */
export type RehearseCell = (ctx: CommandContext, flags: { backup: string; to: string; port: number }) => Promise<number>;

/**
 * Each service to upgrade, in the deployment's order: its newest usable backup restored into scratch and booted at its
 * target (`synup rehearse`, through its module entry, on a free port). A mirror is not rehearsed on its own: its data
 * is its leader's, and the leader's rehearsal is the first boot the promoted mirror will run.
 */
export async function rehearseDeployment(ctx: CommandContext, prepared: PreparedDeployment, rehearseCell: RehearseCell): Promise<ServiceRehearsal[]> {
  const inputs = new Map(prepared.inputs.map((i) => [i.service.name, i]));
  const out: ServiceRehearsal[] = [];
  for (const planned of prepared.plan.services) {
    const { service, cellDir, from, to } = inputs.get(planned.name)!;
    if (from === to) {
      out.push({ service: service.name, summary: `already at ${to}`, result: single('up-to-date', true, `already at ${to}: nothing to rehearse`) });
      continue;
    }
    if (service.mirrorOf) {
      out.push({ service: service.name, summary: `mirror of ${service.mirrorOf}: rehearsed with its leader's data`, result: single('mirror', true, `a mirror of ${service.mirrorOf}: same data, rehearsed there`) });
      continue;
    }
    const started = new Date();
    const { backup: backupsDir, health } = { backup: service.config.backup.dir, health: service.config.health };
    if (!backupsDir) {
      out.push({ service: service.name, summary: 'no backup.dir', result: single('find-backup', false, `no backup.dir in ${service.configFile}: nothing to rehearse on`, started) });
      continue;
    }
    const info = await readCellInfo(cellDir);
    const found = await findUsableBackup({ backupsDir, cellGuid: info.guid ?? '', cellVersion: info.cellVersion, maxAgeMs: service.config.backup.maxAge });
    if (!found.backup) {
      const why = `no verified backup of ${service.name} at ${from} newer than ${formatDuration(service.config.backup.maxAge)} in ${backupsDir}`;
      out.push({ service: service.name, summary: why, result: single('find-backup', false, why, started) });
      continue;
    }
    // rehearseCell prints its result as one JSON document under --json: captured here, the human lines still shown.
    let captured = '';
    const stdout = new Writable({ write: (chunk, _enc, done) => ((captured += String(chunk)), done()) });
    const sctx: CommandContext = { ...serviceContext(ctx, service, 'leader', serviceChangelog(prepared.deployment, service)), out: { ...ctx.out, json: true, stdout } };
    try {
      await rehearseCell(sctx, { backup: found.backup.dir, to, port: await freePort(health.host) });
      const result = JSON.parse(captured.trim().split('\n').at(-1)!) as RehearsalResult;
      out.push({ service: service.name, summary: `${from} → ${to} ${result.ok ? 'passed' : 'FAILED'}${result.migrationMs !== null ? `, first boot ${formatDuration(result.migrationMs)}` : ''}`, result });
    } catch (error) {
      out.push({ service: service.name, summary: errorMessage(error), result: single('rehearse', false, errorMessage(error), started) });
    }
  }
  return out;
}
