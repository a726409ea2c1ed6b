import type { Step } from '../context.js';
import { runDirs } from '../../siblings.js';
import { VOLUME_PRE } from './remote-data.js';

export const finish: Step = {
  name: 'finish',
  title: 'Finish',
  describe: (p) =>
    p.settings?.dataOnVolume
      ? `Mark the run done; the pre-defrag data stays on the volume in ${VOLUME_PRE} as the rollback point (synup prune does not reach the volume: remove it there when no longer needed).`
      : 'Mark the run done; keep the pre-upgrade dir as the O(1) rollback point until `synup prune`.',
  async run(ctx) {
    ctx.update((run) => {
      run.outcome = 'done';
      run.endedAt = new Date().toISOString();
    });
  },
  dryRun(ctx) {
    if (ctx.adapter.remoteData) return [`Would mark the run done and keep the pre-defrag data in ${VOLUME_PRE} on the volume as the rollback point`];
    return [`Would mark the run done and keep ${runDirs(ctx.cellDir, '<run>').pre} as the O(1) rollback point until \`synup prune\``];
  },
};
