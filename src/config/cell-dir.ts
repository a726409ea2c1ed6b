import { existsSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SynupError, usageError } from '../errors.js';

/**
 * Resolves and checks the cell dir an operator named: a real directory (symlinks resolved, so renames act on the
 * data, not on a link), not `/` or the home dir, holding `cell.guid`. Refuses with a clear reason otherwise.
 */
export function resolveCellDir(given: string | undefined, cwd: string, options: { allowMissing?: boolean } = {}): string {
  if (given === undefined || given.trim() === '') {
    throw usageError('no cell dir given', 'pass --dir <cell storage dir> or set cell.dir in synup.yaml; a Kubernetes cell without cell.dir is on its volume, where only `synup upgrade` (its backup gate, --backup and defrag run as Jobs) reaches it');
  }
  const absolute = path.resolve(cwd, given);
  if (!existsSync(absolute)) {
    // Killed between the two renames of a swap, the cell dir is briefly absent: resume/rollback must still find it.
    if (options.allowMissing && existsSync(path.dirname(absolute))) return path.join(realpathSync(path.dirname(absolute)), path.basename(absolute));
    throw usageError(`cell dir ${absolute} does not exist`);
  }
  const real = realpathSync(absolute);
  if (!statSync(real).isDirectory()) throw usageError(`cell dir ${real} is not a directory`);
  if (real === path.parse(real).root) throw new SynupError('refused', `refusing to treat ${real} as a cell dir: it is the filesystem root`);
  if (real === realpathSync(os.homedir())) throw new SynupError('refused', `refusing to treat ${real} as a cell dir: it is the home dir`);
  if (!existsSync(path.join(real, 'cell.guid'))) {
    throw new SynupError('refused', `${real} is not a Synapse cell dir: it has no cell.guid`, {
      hint: 'point --dir at the service storage dir (e.g. /data/cortex00, /vertex/storage in Docker)',
    });
  }
  return real;
}
