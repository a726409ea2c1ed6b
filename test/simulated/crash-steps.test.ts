// The crash matrix, part 1: points from preflight to the swap.
import { describeCrashMatrix } from '../support/crash-matrix.js';

describeCrashMatrix('steps', [
  ['preflight:after', 'new', {}],
  ['backup-gate:after', 'new', {}],
  ['probes-off:after', 'new', {}],
  ['stop:before', 'new', {}],
  ['stop:after', 'new', {}],
  ['cold-defrag:copied', 'new', {}],
  ['cold-defrag:before-swap', 'new', {}],
  ['cold-defrag:between-renames', 'new', {}],
  ['cold-defrag:after', 'new', {}],
]);
