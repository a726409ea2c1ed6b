import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Files that mostly wait on long child processes (real Cortex boots and migrations, npm installs): started first,
 * they run beside the many short files instead of after them. Vitest's own order (slowest first from its cache, and on
 * a fresh clone, which has no cache, largest file first) decides the rest.
 */
const SLOW_FIRST = ['real-cortex.test.ts', 'install.test.ts', 'real-cortex-aha-deploy.test.ts', 'real-cortex-deploy.test.ts', 'real-cortex-operate.test.ts', 'real-cortex-aha-discover.test.ts', 'ci-examples.test.ts', 'real-cortex-held.test.ts'];

class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (file: TestSpecification) => {
      const i = SLOW_FIRST.indexOf(path.basename(file.moduleId));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return sorted.map((file, order) => ({ file, order })).sort((a, b) => rank(a.file) - rank(b.file) || a.order - b.order).map(({ file }) => file);
  }
}

export default defineConfig({
  test: {
    // Tiers, one folder each: unit, contract (test/fakes), simulated (test/sim cells), real (the real Cortex of
    // ../shared/synapse-lab), package (npm installs of the release tarball), containers (a real Docker engine:
    // scripts/container-lab.sh). package.json runs them by folder.
    include: ['test/{unit,contract,simulated,real,package,containers}/**/*.test.ts'],
    globalSetup: ['test/support/global-tmpdir.ts'],
    setupFiles: ['test/support/setup-lmdb.ts', 'test/support/file-times.ts'],
    reporters: ['default', './test/support/times-reporter.ts'],
    pool: 'forks',
    // Hang guards, not speed checks: tests wait on events within load-scaled budgets (test/support/budget.ts), and
    // under 4 busy CPU workers on 2 cores a 20 s test takes a minute or more.
    testTimeout: 240_000,
    hookTimeout: 300_000,
    // The real Cortexes, npm installs and containers: 2 at a time on these 2-core machines (3 starved real-Cortex
    // boots). `npm test` passes --maxWorkers=3: its files mostly wait on sims (562 s with 2 workers, 413 s with 3,
    // fresh clones, idle), and its waits are load-scaled (3 workers at load 19: 0 failures).
    maxWorkers: 2,
    sequence: { sequencer: SlowFirstSequencer },
    // The sim's first Storm query waits for its parser pool like a real Cortex's (1.4 s by default), and its graceful
    // stop takes 700 ms by default: 300 ms and 250 ms here keep both waits in every test without their full cost
    // (hundreds of sim starts and stops); the tests about them (sim.test, deploy-upgrade, deploy-crash) set their own.
    env: { SYN_SIM_STORM_START_MS: '300', SYN_SIM_STOP_MS: '250' },
  },
});
