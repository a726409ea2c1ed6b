import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { discoverEnvs } from './discover.js';
import { MDB_MAGIC } from './format.js';
import { isAlive, processStartTicks } from '../proc.js';

export interface Holder {
  pid: number;
  path: string;
  /**
   * cell-lock: a lock on cell.guid (a running Synapse holds one); reader: the process has an env open; cell-open: an
   * env holder that keeps cell.guid open without its lock (see openCellGuidHolders).
   */
  kind: 'cell-lock' | 'reader' | 'cell-open';
  /** The process's name (/proc/<pid>/comm) when it can be read. */
  command?: string;
}

/** "pid 123 (python3, reader of …/lock.mdb)": for messages. */
/** `pid 12 (python3, lock on /x/cell.guid)`; `alsoHolds` counts the pid's other held files (`… and 3 more files`). */
export function describeHolder(holder: Holder, alsoHolds = 0): string {
  const what = holder.kind === 'cell-lock' ? `lock on ${holder.path}` : holder.kind === 'reader' ? `reader of ${holder.path}` : `${holder.path} open, not locked`;
  const more = alsoHolds > 0 ? ` and ${alsoHolds} more file${alsoHolds === 1 ? '' : 's'}` : '';
  return `pid ${holder.pid} (${holder.command ? `${holder.command}, ` : ''}${what}${more})`;
}

/** Offsets of LMDB 0.9.x's lock.mdb on 64-bit Linux (POSIX robust mutexes): header 2×64 bytes, then 64-byte slots. */
const READERS_OFFSET = 128;
const READER_SLOT = 64;
const NUMREADERS_OFFSET = 56;
const READER_PID_OFFSET = 8;

/** glibc's encoding of st_dev, as /proc/locks prints it (major:minor in hex). */
function devString(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}


/**
 * pids holding any lock on each file, matched by device and inode in /proc/locks. A POSIX (lockf/fcntl) lock belongs
 * to the process /proc/locks names. A FLOCK or OFD lock belongs to an open file description, and /proc/locks shows
 * the pid that made the call (perhaps long gone, e.g. flock(1)) or -1: its holders are the processes that have that
 * description open with the lock on it, read from /proc/<pid>/fdinfo/<fd>.
 */
async function lockHolders(files: string[], procLocks: string): Promise<Map<string, number[]>> {
  const byId = new Map<string, string>();
  for (const file of files) {
    const st = await stat(file).catch(() => null);
    if (st) byId.set(`${devString(st.dev)}:${st.ino}`, file);
  }
  const found = new Map<string, number[]>();
  const add = (file: string, pid: number) => {
    const pids = found.get(file) ?? [];
    if (!pids.includes(pid)) found.set(file, [...pids, pid]);
  };
  const byDescription = new Set<string>();
  for (const line of procLocks.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" ("1: -> POSIX …" for a waiter)
    if (line.includes('->')) continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const [maj, min, ino] = fields[5]!.split(':');
    const file = byId.get(`${maj}:${min}:${ino}`) ?? byId.get(`${maj!.padStart(2, '0')}:${min!.padStart(2, '0')}:${ino}`);
    if (!file) continue;
    if (fields[1] === 'POSIX') add(file, Number(fields[4]));
    else byDescription.add(file);
  }
  if (byDescription.size > 0) {
    for (const { pid, file } of await descriptionLockOwners([...byDescription])) add(file, pid);
  }
  return found;
}

/** Processes (every one, or the `pids` given) with any of `files` open: pid, fd number and which file. */
async function openersOf(files: string[], pids?: number[]): Promise<{ pid: number; fd: string; file: string }[]> {
  const ids = new Map<string, string>();
  for (const file of files) {
    const st = await stat(file).catch(() => null);
    if (st) ids.set(`${st.dev}:${st.ino}`, file);
  }
  if (ids.size === 0) return [];
  const openers: { pid: number; fd: string; file: string }[] = [];
  const candidates = pids ?? (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/.test(name)).map(Number);
  for (const pid of candidates) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const st = await stat(`/proc/${pid}/fd/${fd}`).catch(() => null);
      const file = st && ids.get(`${st.dev}:${st.ino}`);
      if (file) openers.push({ pid, fd, file });
    }
  }
  return openers;
}

/** Processes whose open files show a lock in /proc/<pid>/fdinfo, for the given files (flock/OFD owners). */
async function descriptionLockOwners(files: string[]): Promise<{ pid: number; file: string }[]> {
  const owners: { pid: number; file: string }[] = [];
  for (const { pid, fd, file } of await openersOf(files)) {
    const info = await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8').catch(() => '');
    if (/^lock:\s/m.test(info)) owners.push({ pid, file });
  }
  return owners;
}

/** Live pids in an LMDB lock.mdb reader table (a slot is free when its pid is 0). */
export async function readerPids(lockFile: string): Promise<number[]> {
  const buf = await readFile(lockFile).catch(() => null);
  if (!buf || buf.length < READERS_OFFSET || buf.readUInt32LE(0) !== MDB_MAGIC) return [];
  const slots = Math.min(buf.readUInt32LE(NUMREADERS_OFFSET), Math.floor((buf.length - READERS_OFFSET) / READER_SLOT));
  const pids: number[] = [];
  for (let i = 0; i < slots; i++) {
    const pid = buf.readInt32LE(READERS_OFFSET + i * READER_SLOT + READER_PID_OFFSET);
    if (pid > 0 && !pids.includes(pid) && isAlive(pid)) pids.push(pid);
  }
  return pids;
}

/**
 * Who still holds the cell: locks on cell.guid (Synapse's lockf, or flock, by the process holding it) and, per env, LMDB's own locks on lock.mdb
 * and live slots in its reader table (pid alive; and locking lock.mdb when /proc/locks is readable, so a stale slot
 * whose pid was reused does not count). synup's own pid is left out.
 */
export async function findHolders(cellDir: string, options: { procLocks?: string } = {}): Promise<Holder[]> {
  const procLocks = options.procLocks ?? (await readFile('/proc/locks', 'utf8').catch(() => ''));
  const guidFile = path.join(cellDir, 'cell.guid');
  const { envs } = await discoverEnvs(cellDir);
  const lockFiles = envs.map((env) => path.join(env.dir, 'lock.mdb'));
  const locks = await lockHolders([guidFile, ...lockFiles], procLocks);
  const holders: Holder[] = [];
  const add = (holder: Holder) => {
    if (holder.pid === process.pid) return;
    if (!holders.some((h) => h.pid === holder.pid && h.path === holder.path)) holders.push(holder);
  };
  const named = async () => Promise.all(holders.map(async (h) => {
    const command = (await readFile(`/proc/${h.pid}/comm`, 'utf8').catch(() => '')).trim();
    return command ? { ...h, command } : h;
  }));
  for (const pid of locks.get(guidFile) ?? []) add({ pid, path: guidFile, kind: 'cell-lock' });
  for (const lockFile of lockFiles) {
    const locking = locks.get(lockFile) ?? [];
    for (const pid of locking) add({ pid, path: lockFile, kind: 'reader' });
    // A reader slot outlives a killed process and its pid may be reused: where /proc/locks can be read, a slot
    // counts only if its pid also holds LMDB's lock on lock.mdb (LMDB's own liveness test, mdb_reader_check).
    for (const pid of await readerPids(lockFile)) if (!procLocks || locking.includes(pid)) add({ pid, path: lockFile, kind: 'reader' });
  }
  return named();
}

/**
 * Of the processes holding the cell's envs (`holders`, from findHolders), those keeping the cell's cell.guid open, as
 * kind 'cell-open', oldest process first: Synapse keeps that descriptor for its whole life, with or without its lock.
 * Reads /proc/<pid>/fd of those processes only.
 */
export async function openCellGuidHolders(cellDir: string, holders: Holder[]): Promise<Holder[]> {
  const guidFile = path.join(cellDir, 'cell.guid');
  const pids = [...new Set(holders.filter((h) => h.kind === 'reader').map((h) => h.pid))];
  const keepers = [...new Set((await openersOf([guidFile], pids)).map((o) => o.pid))];
  const started = new Map(keepers.map((pid) => [pid, processStartTicks(pid) ?? Infinity]));
  return keepers
    .sort((a, b) => started.get(a)! - started.get(b)!)
    .map((pid) => {
      const command = holders.find((h) => h.pid === pid)?.command;
      return { pid, path: guidFile, kind: 'cell-open' as const, ...(command ? { command } : {}) };
    });
}
