// The crash matrix, part 2: points from the new version's start to the end, and in a journal write.
import { describeCrashMatrix } from '../support/crash-matrix.js';

describeCrashMatrix('boot', [
  ['start:before', 'new', {}],
  ['start:after', 'new', {}],
  ['wait-migrations:before', 'new', {}],
  ['wait-migrations:after', 'new', {}],
  ['confirm:after', 'new', {}],
  ['confirm:before', 'new', {}],
  ['probes-on:after', 'new', {}],
  ['finish:before', 'new', {}],
  ['journal-write', 'new', {}],
]);
