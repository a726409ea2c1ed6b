// Online defrag (issue 24) on the lab's real Cortex: 2.242.0 → 2.250.0 and 2.180.0 → 2.250.0 with a client writing
// through Storm the whole time. The shadow is the Cortex's own backup ($lib.backup.run), run as a mirror through its
// telepath listener; every acknowledged write must be in the upgraded cell, which must boot as the leader.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { labSkipReason, nodesUnder, writeThroughout, type LabCortex } from '../support/lab-cortex.js';
import { PASSWORD, realCell, SETPRIV } from '../support/real-cell.js';

if (labSkipReason) console.warn(`real-Cortex online-defrag tests skipped: ${labSkipReason}`);

/** JSON lines of a run: its step events and its summary. */
const eventsOf = (stdout: string) => stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(labSkipReason !== null)('real Cortex: online defrag through a shadow mirror (issue 24)', () => {
  // 2.180.0 runs as uid 999, as in Vertex's images (when synup runs as root): the shadow runs as the cell does, and
  // what synup writes into it (its settings, then the cell's own files back) must be readable by that user.
  const asUser = process.geteuid?.() === 0 && SETPRIV ? 999 : undefined;
  it.each([['2.242.0', undefined], ['2.180.0', asUser]])('%s → 2.250.0 (uid %s) while a client writes: the shadow is swapped in, every acknowledged write kept, it boots as the leader', async (from, uid) => {
    const cell = await realCell({ version: from, extraYaml: 'upgrade: {defrag: online}', asUser: uid, noSpawn: uid !== undefined });
    try {
      const cellYaml = readFileSync(path.join(cell.cellDir, 'cell.yaml'), 'utf8');
      await cell.stormEdit('for $i in $lib.range(2000) { [ inet:fqdn=`s{$i}.seed.test` ] } | spin');
      const lab: LabCortex = { dir: cell.cellDir, port: cell.port, password: PASSWORD };
      const writer = writeThroughout([lab], 'online.test', 100);
      const result = await cell.upgrade(['--to', '2.250.0', '--backup']);
      const report = await writer.stop();
      expect(result.exitCode, result.stderr).toBe(0);
      const events = eventsOf(result.stdout);
      const state = (step: string) => events.filter((e) => e.type === 'step' && e.step === step).map((e) => e.state);
      expect(state('shadow')).toContain('completed');
      const said = events.filter((e) => e.type === 'progress' && String(e.step).startsWith('shadow')).map((e) => e.message).join('\n');
      expect(state('shadow-swap'), said).toContain('completed');
      expect(state('cold-defrag')).toEqual(['skipped']);
      expect(result.stderr + result.stdout).not.toContain(PASSWORD);
      // The shadow logs in with the password (its cell.mods.yaml `mirror:` URL); Synapse's log of it must not show it.
      const stateDir = path.join(cell.work, 'state');
      const shadowLog = readdirSync(stateDir).find((f) => /\.shadow-.*\.log$/.test(f))!;
      expect(readFileSync(path.join(stateDir, shadowLog), 'utf8')).toMatch(/Entering realtime change window|mirror/i);
      expect(readFileSync(path.join(stateDir, shadowLog), 'utf8')).not.toContain(PASSWORD);

      // Every acknowledged write, and every seeded node, is in the upgraded cell, once.
      expect(report.acked.length).toBeGreaterThan(20);
      const names = await nodesUnder(lab, 'online.test');
      expect(report.acked.map((a) => a.name).filter((n) => !names.includes(n))).toEqual([]);
      expect(new Set(names).size).toBe(names.length);
      expect((await nodesUnder(lab, 'seed.test')).length).toBe(2000);

      // The swapped-in data is the leader's: its own config back, no mirror:, active, the target version.
      expect(readFileSync(path.join(cell.cellDir, 'cell.yaml'), 'utf8')).toBe(cellYaml);
      expect(existsSync(path.join(cell.cellDir, 'cell.mods.yaml'))).toBe(false);
      const info = (await cell.storm('return($lib.cell.getCellInfo())')) as { cell: { active: boolean; version: number[] }; synapse: { version: number[] } };
      expect(info.cell.active).toBe(true);
      expect(await cell.storm('return($lib.version.synapse())')).toEqual([2, 250, 0]);
      if (uid !== undefined) for (const name of ['cell.yaml', 'cell.guid', 'slabs']) expect(statSync(path.join(cell.cellDir, name)).uid, name).toBe(uid);
      const siblings = readdirSync(cell.work).filter((n) => n.startsWith('cortex00'));
      expect(siblings).toEqual(expect.arrayContaining(['cortex00', expect.stringMatching(/^cortex00\.synup-pre-/)]));
      expect(siblings.filter((n) => n.includes('shadow'))).toEqual([]);
      const summary = events.find((e) => e.type === 'summary') ?? {};
      const took = (step: string) => events.find((e) => e.type === 'step' && e.step === step && e.state === 'completed')?.durationMs;
      console.log(`online defrag ${from} → 2.250.0: downtime ${summary.downtimeMs} ms (stop ${took('stop')} ms, shadow-swap ${took('shadow-swap')} ms, start ${took('start')} ms, wait-migrations ${took('wait-migrations')} ms; shadow made and caught up in ${took('shadow')} ms), ${report.acked.length} writes acknowledged, ${report.failed} failed, longest gap ${report.longestGap} ms`);
    } finally {
      await cell.stop();
    }
  });
});
