// `synup deploy` with the online defrag (issue 24): a standalone Cortex configured for it is defragmented by its shadow
// mirror; the Cortex leader and its mirror keep the cold defrag (no client waits on them: the mirror takes over), and
// so does the Axon (no Storm to ask for its backup through).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/runner/journal.js';
import { startDeployment } from '../support/deploy-harness.js';

describe('synup deploy with upgrade.defrag: online', () => {
  it('plan says it per service; upgrade defragments the standalone Cortex online, the Cortex pair and the Axon cold', async () => {
    const harness = await startDeployment({ version: '2.180.0', onlineDefrag: ['cortex10', 'axon00', 'cortex00'], standaloneCortex: true, migrationMs: 300 });
    const plan = await harness.run(['deploy', 'plan', '--to', '2.182.0', '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    const services = JSON.parse(plan.stdout).services as { name: string; downtime: { clientVisible: string }; steps: { name: string }[]; defrag: unknown }[];
    const of = (name: string) => services.find((s) => s.name === name)!;
    expect(of('cortex10').downtime.clientVisible).toMatch(/^stop \+ online defrag \(the shadow swap, ~3\.0 s\) \+ first boot/);
    expect(of('cortex10').steps.map((s) => s.name)).toContain('shadow-swap');
    expect(of('axon00').steps.map((s) => s.name)).not.toContain('shadow');
    expect(of('axon00').downtime.clientVisible).toMatch(/cold defrag/);
    expect(of('axon00').defrag).toMatchObject({ mode: 'cold', requested: 'online', reason: expect.stringMatching(/only a Cortex has Storm \(cell\.kind is axon\)/) });
    expect(of('cortex00').defrag).toMatchObject({ mode: 'cold', reason: expect.stringMatching(/^the old leader, upgraded as a mirror/) });
    // Asked for online too, but upgraded as a mirror after the promotion: its defrag is no client's downtime.
    expect(of('cortex00').steps.map((s) => s.name)).not.toContain('shadow');

    const result = await harness.run(['deploy', 'upgrade', '--to', '2.182.0', '--backup', '-y']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await harness.version('cortex10')).toBe('2.182.0');
    const journal = Journal.open(path.join(harness.work, 'state'));
    try {
      const standalone = journal.latest(harness.services.cortex10!.dir)!;
      expect(standalone.steps['shadow-swap']?.state).toBe('completed');
      expect(standalone.steps['cold-defrag']?.state).toBe('skipped');
      const cortex = journal.latest(harness.services.cortex00!.dir)!;
      expect(cortex.steps['shadow']).toBeUndefined();
      expect(cortex.steps['cold-defrag']?.state).toBe('completed');
    } finally {
      await journal.close();
    }
    expect(readdirSync(harness.work).filter((n) => n.includes('synup-shadow'))).toEqual([]);
  });
});
