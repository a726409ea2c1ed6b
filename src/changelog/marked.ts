import { createRequire } from 'node:module';

type Marked = typeof import('marked');
let marked: Marked | undefined;

/**
 * marked, loaded synchronously on first use (require of an ES module, Node ≥ 20.19) so that parsing the usual
 * CHANGELOG.rst and `synup plan --json` never pay for loading it.
 */
export function loadMarked(): Marked {
  return (marked ??= createRequire(import.meta.url)('marked') as Marked);
}
