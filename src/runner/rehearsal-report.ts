import type { MigrationWork } from '../plan/boot-calibration.js';
import { formatDuration } from '../units.js';

export interface RehearsalCase {
  name: string;
  title: string;
  durationMs: number;
  ok: boolean;
  error?: string;
  detail?: string;
}

export interface RehearsalResult {
  id: string;
  ok: boolean;
  backup: string;
  cellGuid: string | null;
  from: string;
  to: string;
  startedAt: string;
  durationMs: number;
  /** First boot of the target version: start → active and migrated. */
  migrationMs: number | null;
  /** Its model migrations by the log, when it showed both ends. */
  modelMigrationMs: number | null;
  /** What the crossed migrations had to do in the backup (absent: not a Cortex, or its counts could not be read). */
  migrationWork?: MigrationWork;
  migrations: number;
  cases: RehearsalCase[];
}

const xml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

/** JUnit XML as CI systems read it: one testsuite, each step a testcase with its time in seconds. */
export function renderJUnit(result: RehearsalResult): string {
  return renderJUnitSuites('synup rehearse', [{ name: `upgrade ${result.from} → ${result.to}`, classname: `synup.rehearse.${result.from}-to-${result.to}`, result }]);
}

/** Several rehearsals (a deployment's services) in one report: one testsuite each. */
export function renderJUnitSuites(title: string, suites: { name: string; classname: string; result: Pick<RehearsalResult, 'cases' | 'durationMs' | 'startedAt'> }[]): string {
  const count = (pick: (c: RehearsalCase) => boolean) => suites.reduce((n, s) => n + s.result.cases.filter(pick).length, 0);
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const body = suites.flatMap(({ name, classname, result }) => {
    const failures = result.cases.filter((c) => !c.ok).length;
    const cases = result.cases.map((c) => {
      const head = `    <testcase classname="${xml(classname)}" name="${xml(c.name)}" time="${seconds(c.durationMs)}"`;
      if (c.ok) return `${head}>${c.detail ? `\n      <system-out>${xml(c.detail)}</system-out>\n    ` : ''}</testcase>`;
      return `${head}>\n      <failure message="${xml(c.error ?? 'failed')}" type="SynupRehearsalFailure">${xml(c.error ?? '')}</failure>\n    </testcase>`;
    });
    return [
      `  <testsuite name="${xml(name)}" tests="${result.cases.length}" failures="${failures}" errors="0" skipped="0" time="${seconds(result.durationMs)}" timestamp="${xml(result.startedAt)}">`,
      ...cases,
      '  </testsuite>',
    ];
  });
  const total = suites.reduce((ms, s) => ms + s.result.durationMs, 0);
  return ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="${xml(title)}" tests="${count(() => true)}" failures="${count((c) => !c.ok)}" time="${seconds(total)}">`, ...body, '</testsuites>', ''].join('\n');
}

export function renderRehearsalMarkdown(result: RehearsalResult): string {
  const secs = (ms: number | null) => (ms === null ? '—' : formatDuration(ms));
  return [
    `# Upgrade rehearsal ${result.from} → ${result.to}: ${result.ok ? 'PASSED' : 'FAILED'}`,
    '',
    `- backup: \`${result.backup}\` (cell ${result.cellGuid ?? 'unknown'})`,
    `- releases with migrations crossed: ${result.migrations}`,
    `- first boot of ${result.to} (start → active and migrated): **${secs(result.migrationMs)}**`,
    `- total: ${secs(result.durationMs)}`,
    '',
    '| step | result | time |',
    '| --- | --- | --- |',
    ...result.cases.map((c) => `| ${c.title} | ${c.ok ? 'ok' : `FAILED: ${c.error?.replace(/\|/g, '\\|') ?? ''}`} | ${secs(c.durationMs)} |`),
    '',
  ].join('\n');
}
