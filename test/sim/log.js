// The sim's log, in the shape of Synapse's default logging (synapse/lib/const.py LOG_FORMAT):
//   2024-05-01 12:00:00,123 [WARNING] Migrating Drive Slabs [cell.py:_driveCellMigration:MainThread:MainProcess]
// Log lines go to stdout; a fatal error goes to stderr as the last thing the process says (a Python exception line).

/** UTC "YYYY-MM-DD HH:MM:SS,mmm", Python logging's asctime. */
const asctime = () => new Date().toISOString().replace('T', ' ').replace('.', ',').slice(0, 23);

/** @param {'INFO' | 'WARNING' | 'ERROR'} level @param {string} mesg @param {string} where e.g. "cell.py:initServiceNetwork" */
function write(level, mesg, where) {
  process.stdout.write(`${asctime()} [${level}] ${mesg} [${where}:MainThread:MainProcess]\n`);
}

/**
 * A non-fatal error with its traceback, as Synapse's `logger.exception` writes one (a failing Storm dmon, a skipped
 * item during a migration): the process carries on.
 * @param {string} mesg @param {string} where @param {string} exception e.g. "synapse.exc.NoSuchForm: No form named sim:gone"
 */
function exception(mesg, where, exception) {
  write('ERROR', mesg, where);
  process.stdout.write(`Traceback (most recent call last):\n  File "/opt/synapse/synapse/lib/storm.py", line 1370, in dmonloop\n    async for nodes in self.core.storm(text, opts=opts):\n${exception}\n`);
}

export const log = {
  exception,
  /** @param {string} mesg @param {string} where */
  info: (mesg, where) => write('INFO', mesg, where),
  /** @param {string} mesg @param {string} where */
  warning: (mesg, where) => write('WARNING', mesg, where),
  /** @param {string} mesg @param {string} where */
  error: (mesg, where) => write('ERROR', mesg, where),
};

/**
 * Ends the process the way an uncaught Python exception does: `<exception>: <mesg>` on stderr (after a
 * `Traceback (most recent call last):` header unless `traceback` is false), exit code 1 — no cleanup, like a crash.
 * @param {string} exception e.g. "synapse.exc.BadVersion"
 * @param {string} mesg
 * @param {{ traceback?: boolean, code?: number }} [options]
 * @returns {never}
 */
export function die(exception, mesg, { traceback = true, code = 1 } = {}) {
  process.stderr.write(`${traceback ? 'Traceback (most recent call last):\n' : ''}${exception}: ${mesg}\n`);
  process.exit(code);
}
