// Versions as Synapse handles them: "2.181.0" on the command line, [2, 181, 0] in its data (msgpack tuples),
// "(2, 181, 0)" in its messages (Python tuples).

/** @typedef {number[]} VersionTuple */

/** @param {string} text */
export const isVersion = (text) => /^\d+\.\d+\.\d+$/.test(text);

/** "2.181.0" → [2, 181, 0] @param {string} version @returns {VersionTuple} */
export const toTuple = (version) => version.split('.').map(Number);

/** [2, 181, 0] → "2.181.0"; anything else (nothing stored) → null @param {unknown} tuple */
export const fromTuple = (tuple) => (Array.isArray(tuple) ? tuple.join('.') : null);

/** [2, 181, 0] → "(2, 181, 0)", as Python prints it @param {VersionTuple} tuple */
export const pyTuple = (tuple) => `(${tuple.join(', ')})`;

/** Python's tuple order (element-wise, then the shorter first); negative when a < b. @param {VersionTuple} a @param {VersionTuple} b */
export function compareTuples(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** @param {string} a @param {string} b */
export const compareVersions = (a, b) => compareTuples(toTuple(a), toTuple(b));
