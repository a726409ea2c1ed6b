// Loads synup's LMDB data-v1 binding before any test file imports lmdb-js: the binding module points lmdb-js's
// loader at it for this worker and every child it starts (fixtures, the sim), so nothing here opens v1 files with v2.
import '../../src/lmdb/binding.js';
