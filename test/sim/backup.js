// $lib.backup.run(name=$name, wait=$lib.true), as Cell.runBackup / _execBackupTask (synapse/lib/cell.py) and
// synapse.tools.service.backup do it: refuse a second backup while one runs and an existing name; copy cell.guid first;
// then, holding the nexslock (no nexus entry recorded or applied meanwhile; writers wait), a compacted copy of every
// LMDB env (lmdb-js's backup: mdb_env_copy2 with MDB_CP_COMPACT, as py-lmdb's env.copy(compact=True); data format v1
// with synup's binding) and a plain copy of every other regular file, skipping tmp/, backups/ and sockets/ dirs.
// Unlike the real one, the copy is made while the lock is held (lmdb-js's backup takes its read transaction when it
// starts, not when asked), so a backup holds up writes for its whole length, not only until its transactions open.
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { log } from './log.js';
import { assertDataV1 } from './storage.js';

/** Dirs a backup leaves out wherever they are (txnbackup's `**\/tmp`, `**\/backups`, and the sim's sockets). */
const SKIP_DIRS = new Set(['tmp', 'backups', 'sockets']);

/** A Synapse exception, for the storm/call answer. @param {string} code @param {string} mesg */
const synErr = (code, mesg) => Object.assign(new Error(mesg), { code });

/** time.strftime('%Y%m%d%H%M%S'): the name of a backup run without one (local time). */
function timestampName() {
  const now = new Date();
  const two = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
}

/** A float as Python's repr writes it: exponent notation below 1e-4 (`5.3e-05`), else as JavaScript does. @param {number} x */
function pyFloat(x) {
  if (x === 0 || Math.abs(x) >= 1e-4) return String(x);
  return x.toExponential().replace(/e-(\d)$/, 'e-0$1');
}

/**
 * Copies `src` to `dst`: each env in `envs` (by its dir) compacted, other regular files as they are.
 * @param {string} src @param {string} dst @param {Map<string, import('./storage.js').Env>} envs
 */
async function copyTree(src, dst, envs) {
  mkdirSync(dst, { recursive: true });
  for (const name of readdirSync(src).sort()) {
    const from = path.join(src, name);
    const to = path.join(dst, name);
    const stat = statSync(from, { throwIfNoEntry: false });
    if (stat?.isDirectory()) {
      if (SKIP_DIRS.has(name)) continue;
      const env = envs.get(from);
      if (env) {
        mkdirSync(to, { recursive: true });
        await env.backup(to, true);
        assertDataV1(path.join(to, 'data.mdb'));
      } else if (name.endsWith('.lmdb')) log.warning(`lmdb file ${from} not copied`, 'backup.py:txnbackup');
      else await copyTree(from, to, envs);
    } else if (stat?.isFile()) copyFileSync(from, to); // not sockets, fifos…
  }
}

export class Backups {
  /**
   * @param {{ dir: string, backdir: string, envs: () => Map<string, import('./storage.js').Env>, nexsLock: import('./nexs-lock.js').NexsLock,
   *   dropLock: () => void, track: (work: Promise<unknown>) => void }} options
   *   backdir: backup:dir (conf.js backupDir); envs: every env the cell has open, by dir; dropLock: what copying
   *   cell.guid does to the cell's lock (see run)
   */
  constructor({ dir, backdir, envs, nexsLock, dropLock, track }) {
    this.dir = path.resolve(dir);
    this.backdir = backdir;
    this.envs = envs;
    this.nexsLock = nexsLock;
    this.dropLock = dropLock;
    this.track = track;
    this.running = false;
  }

  /**
   * Cell.runBackup: resolves the backup's name (once it is complete when `wait`); rejects with BackupAlreadyRunning,
   * BadArg (an existing name, a name outside backup:dir) without touching anything.
   * @param {string | null} requested @param {boolean} wait @returns {Promise<string>}
   */
  async run(requested, wait) {
    if (this.running) throw synErr('BackupAlreadyRunning', 'Another backup is already running');
    const name = requested ?? timestampName();
    const dirn = path.resolve(this.backdir, name);
    if (!dirn.startsWith(this.backdir)) throw synErr('BadArg', 'Directory traversal detected');
    if (existsSync(dirn) && statSync(dirn).isDirectory()) throw synErr('BadArg', 'Backup with name already exists');
    this.running = true;
    const started = performance.now();
    const task = this.execBackup(dirn).then(
      () => 'successfully',
      (/** @type {Error} */ error) => `with exception ${error.message}`,
    ).then((phrase) => {
      this.running = false;
      // Synapse divides the seconds it took by 1000 once more (backlasttook / 1000): its number, as it logs it.
      log.info(`Backup ${name} completed ${phrase}.  Took ${pyFloat((performance.now() - started) / 1000 / 1000)} s`, 'cell.py:done');
      if (phrase !== 'successfully') throw synErr('SynErr', phrase);
    });
    this.track(task.catch(() => undefined));
    if (wait) {
      log.info(`Waiting for backup task to complete [${name}]`, 'cell.py:runBackup');
      await task;
    }
    return name;
  }

  /** Cell._execBackupTask. @param {string} dirn */
  async execBackup(dirn) {
    log.info(`Starting backup to [${dirn}]`, 'cell.py:_execBackupTask');
    try {
      await this.nexsLock.run(async () => {
        mkdirSync(dirn, { recursive: true });
        // Copied first, so a failed backup can be deleted. In the real Cortex this copy, in its own process, closes a
        // descriptor of the file it holds its lockf lock on, which drops that lock: the sim's drop-lock fault, here for real.
        copyFileSync(path.join(this.dir, 'cell.guid'), path.join(dirn, 'cell.guid'));
        this.dropLock();
        await copyTree(this.dir, dirn, this.envs());
      });
    } catch (error) {
      log.error(`Error performing backup to [${dirn}]: ${/** @type {Error} */ (error).message}`, 'cell.py:_execBackupTask');
      throw error;
    }
    log.info(`Backup completed to [${dirn}]`, 'cell.py:_execBackupTask');
  }
}
