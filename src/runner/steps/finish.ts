import type { Step } from '../context.js';
import { runDirs } from '../../siblings.js';

export const finish: Step = {
  name: 'finish',
  title: 'Finish',
  describe: () => 'Mark the run done; keep the pre-upgrade dir as the O(1) rollback point until `synup prune`.',
  async run(ctx) {
    ctx.update((run) => {
      run.outcome = 'done';
      run.endedAt = new Date().toISOString();
    });
  },
  dryRun(ctx) {
    return [`Would mark the run done and keep ${runDirs(ctx.cellDir, '<run>').pre} as the O(1) rollback point until \`synup prune\``];
  },
};
