import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { SynupError } from '../errors.js';
import { outputCut, TOOL_OUTPUT_LIMITS } from '../proc.js';
import { formatDuration } from '../units.js';

/**
 * Synapse's own health check (`python -m synapse.tools.service.healthcheck -c cell:///vertex/storage/`, the Docker
 * images' HEALTHCHECK; `synapse.tools.healthcheck` before v2.x renamed it): it connects over the cell's Unix socket
 * (no HTTPS needed), prints one JSON line `{"status": "nominal"|"degraded"|"failed", "iden", "components": [...]}`
 * and exits 0 for nominal/degraded, 1 otherwise.
 */
export interface ToolCheckTarget {
  /** The full argv to run, already wrapped by the adapter (`docker compose exec -T …`, `kubectl exec … --`). */
  argv: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

export interface ToolCheck {
  active: boolean;
  detail: string;
}

const HEALTHY = new Set(['nominal', 'degraded']);

interface HealthReport {
  status?: unknown;
  components?: { name?: unknown; status?: unknown; mesg?: unknown }[];
}

/** The tool's last JSON line, or null when it printed none (not installed, a Python error…). */
function lastReport(stdout: string): HealthReport | null {
  for (const line of stdout.split('\n').reverse()) {
    const text = line.trim();
    if (!text.startsWith('{')) continue;
    try {
      return JSON.parse(text) as HealthReport;
    } catch {
      // not the report
    }
  }
  return null;
}

/** Runs the health check once: active when it exits 0 with a nominal/degraded report; else why not. */
export async function checkWithTool(target: ToolCheckTarget): Promise<ToolCheck> {
  const [file, ...args] = target.argv;
  const result = await execa(file!, args, { env: target.env, extendEnv: false, stdin: 'ignore', reject: false, timeout: target.timeoutMs, maxBuffer: TOOL_OUTPUT_LIMITS });
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new SynupError('failed', `health check command ${file} is not installed or not on PATH`, { hint: 'set health.tool.command to an absolute path (e.g. /opt/synapse/bin/python)' });
  }
  const cut = outputCut(result);
  if (cut) return { active: false, detail: `the health check ${cut}` };
  const report = lastReport(String(result.stdout ?? ''));
  const status = typeof report?.status === 'string' ? report.status : null;
  if (result.exitCode === 0 && status !== null && HEALTHY.has(status)) return { active: true, detail: status };
  if (result.timedOut) return { active: false, detail: `timed out after ${formatDuration(target.timeoutMs)}` };
  if (status !== null) {
    const why = report?.components?.find((c) => c.status !== 'nominal' && typeof c.mesg === 'string')?.mesg;
    return { active: false, detail: `${status}${why ? `: ${String(why)}` : ''}` };
  }
  const stderr = String(result.stderr ?? '').trim().split('\n').pop() ?? '';
  return { active: false, detail: `exit ${result.exitCode ?? result.signal}${stderr ? `: ${stderr}` : ''} (no health report)` };
}

/** Runs the check until it says healthy, the deadline passes (failed) or the signal aborts. */
export async function waitWithTool(target: ToolCheckTarget, options: { deadlineMs: number; signal: AbortSignal; pauseMs?: number }): Promise<void> {
  const started = Date.now();
  let last = 'no answer yet';
  for (let attempt = 1; ; attempt++) {
    if (options.signal.aborted) throw new SynupError('failed', `stopped waiting for the health check: cancelled (last: ${last})`);
    const check = await checkWithTool(target);
    if (check.active) return;
    last = check.detail;
    const left = options.deadlineMs - (Date.now() - started);
    if (left <= 0) {
      throw new SynupError('failed', `\`${target.argv.join(' ')}\` did not report healthy within ${formatDuration(options.deadlineMs)} (${attempt} attempt${attempt === 1 ? '' : 's'}; last: ${last})`, {
        hint: 'check the service log and health.tool in synup.yaml',
      });
    }
    await sleep(Math.min(options.pauseMs ?? 1000, left), undefined, { signal: options.signal }).catch(() => undefined);
  }
}
