import { existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { TOOL_OUTPUT_LIMITS } from '../proc.js';
import { formatBytes } from '../units.js';

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'info';

export interface HostCheck {
  name: string;
  level: CheckLevel;
  current: string;
  recommended: string;
  note?: string;
}

export interface HostCheckOptions {
  /** Root under which /proc and /sys are read (tests point it at a fake tree). */
  root: string;
  /** The dir whose filesystem matters (the cell dir, or the cwd). */
  dataDir: string;
  /** Bytes an upgrade needs next to the cell, if known. */
  neededBytes?: number;
  /** PATH to look for lmdb-utils on. */
  pathEnv: string;
  now: Date;
}

/** The Synapse devops guide's performance tuning. The dirty ratios are percentages of RAM: on big hosts bytes-based settings fit better. */
export const SYSCTLS: { key: string; recommended: number; note?: string }[] = [
  { key: 'vm.swappiness', recommended: 10 },
  { key: 'vm.dirty_expire_centisecs', recommended: 20 },
  { key: 'vm.dirty_writeback_centisecs', recommended: 20 },
  { key: 'vm.dirty_background_ratio', recommended: 2, note: 'percent of RAM: depends on memory size (on large hosts prefer vm.dirty_background_bytes)' },
  { key: 'vm.dirty_ratio', recommended: 4, note: 'percent of RAM: depends on memory size (on large hosts prefer vm.dirty_bytes)' },
];

const NETWORK_FS = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'fuse.sshfs', 'glusterfs', 'ceph', '9p']);

function readText(root: string, file: string): string | null {
  try {
    return readFileSync(path.join(root, file), 'utf8').trim();
  } catch {
    return null;
  }
}

function sysctlChecks(root: string): HostCheck[] {
  return SYSCTLS.map(({ key, recommended, note }) => {
    const value = readText(root, path.join('proc/sys', ...key.split('.')));
    if (value === null) return { name: key, level: 'info', current: 'unreadable', recommended: String(recommended), note };
    return { name: key, level: Number(value) === recommended ? 'ok' : 'warn', current: value, recommended: String(recommended), note };
  });
}

interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** The longest mount point that contains `dir`, from /proc/mounts. */
function mountOf(root: string, dir: string): Mount | null {
  const text = readText(root, 'proc/mounts');
  if (!text) return null;
  const unescape = (s: string) => s.replace(/\\040/g, ' ');
  const mounts = text.split('\n').map((line) => {
    const [device = '', mountPoint = '', fsType = ''] = line.split(' ');
    return { device: unescape(device), mountPoint: unescape(mountPoint), fsType };
  });
  const inside = (m: Mount) => dir === m.mountPoint || dir.startsWith(m.mountPoint.endsWith('/') ? m.mountPoint : m.mountPoint + '/');
  return mounts.filter(inside).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0] ?? null;
}

function filesystemChecks(options: HostCheckOptions): HostCheck[] {
  const mount = mountOf(options.root, options.dataDir);
  const checks: HostCheck[] = [];
  if (!mount) {
    checks.push({ name: 'filesystem', level: 'info', current: 'unknown (no /proc/mounts)', recommended: 'local ext4/xfs' });
    return checks;
  }
  checks.push({
    name: 'filesystem',
    level: NETWORK_FS.has(mount.fsType) ? 'fail' : 'ok',
    current: `${mount.fsType} on ${mount.mountPoint}`,
    recommended: 'local filesystem (no NFS: LMDB locking and mmap are unsafe on it)',
  });
  const dev = path.basename(mount.device);
  const base = dev.replace(/p?\d+$/, '');
  const rotational = readText(options.root, `sys/block/${dev}/queue/rotational`) ?? readText(options.root, `sys/block/${base}/queue/rotational`);
  if (rotational !== null) {
    checks.push({ name: 'disk', level: rotational === '1' ? 'warn' : 'ok', current: rotational === '1' ? `rotational (${dev})` : `non-rotational (${dev})`, recommended: 'SSD/NVMe (no HDD)' });
  }
  return checks;
}

function freeSpaceCheck(options: HostCheckOptions): HostCheck {
  const fs = statfsSync(options.dataDir);
  const free = fs.bavail * fs.bsize;
  const needed = options.neededBytes;
  if (needed === undefined) return { name: 'free-space', level: 'info', current: `${formatBytes(free)} free`, recommended: 'at least the compacted size of the cell + 20%' };
  return { name: 'free-space', level: free >= needed * 1.2 ? 'ok' : 'fail', current: `${formatBytes(free)} free`, recommended: `≥ ${formatBytes(needed * 1.2)} (compacted cell + 20%)` };
}

function lmdbUtilsCheck(pathEnv: string): HostCheck {
  const found = pathEnv.split(':').filter(Boolean).find((dir) => existsSync(path.join(dir, 'mdb_copy')) && existsSync(path.join(dir, 'mdb_stat')));
  return {
    name: 'lmdb-utils',
    level: found ? 'ok' : 'info',
    current: found ? `mdb_copy, mdb_stat in ${found}` : 'not installed',
    recommended: 'optional: apt-get install lmdb-utils (synup has its own compact copy)',
  };
}

/** Clock sanity: a clock behind the files synup reads makes backup ages and the freshness gate lie. */
function clockCheck(options: HostCheckOptions): HostCheck {
  const year = options.now.getUTCFullYear();
  let newest = 0;
  try {
    newest = statSync(options.dataDir).mtimeMs;
  } catch {
    // dir may not exist yet
  }
  const behind = newest - options.now.getTime();
  const bad = year < 2020 || behind > 5 * 60_000;
  return {
    name: 'clock',
    level: bad ? 'fail' : 'ok',
    current: options.now.toISOString() + (behind > 5 * 60_000 ? ` (behind ${path.basename(options.dataDir)}'s mtime by ${Math.round(behind / 1000)} s)` : ''),
    recommended: 'a sane date, not behind the data files',
  };
}

const findOnPath = (pathEnv: string, tool: string) => pathEnv.split(':').filter(Boolean).map((dir) => path.join(dir, tool)).find((file) => existsSync(file)) ?? null;

/** One run of a local tool (argument array), bounded in time and output; null when it is absent or fails. */
async function ask(pathEnv: string, tool: string, args: string[]): Promise<string | null> {
  const file = findOnPath(pathEnv, tool);
  if (!file) return null;
  const result = await execa(file, args, { reject: false, stdin: 'ignore', timeout: 5_000, maxBuffer: TOOL_OUTPUT_LIMITS, env: { PATH: pathEnv, LC_ALL: 'C' }, extendEnv: false });
  return result.exitCode === 0 ? String(result.stdout) : null;
}

const NTP_RECOMMENDED = 'NTP-synchronised (backup ages, the freshness gate and run times depend on it)';

/**
 * Whether the clock is NTP-synchronised, as the host says: `timedatectl` (systemd-timesyncd, or whatever systemd
 * knows of), else `chronyc tracking`; unknown (not OK) when neither answers, as in most containers.
 */
export async function ntpCheck(pathEnv: string): Promise<HostCheck> {
  const timedatectl = (await ask(pathEnv, 'timedatectl', ['show', '--property=NTPSynchronized', '--value']))?.trim();
  if (timedatectl === 'yes' || timedatectl === 'no') {
    return timedatectl === 'yes'
      ? { name: 'ntp', level: 'ok', current: 'synchronised (timedatectl)', recommended: NTP_RECOMMENDED }
      : { name: 'ntp', level: 'warn', current: 'not synchronised (timedatectl: NTPSynchronized=no)', recommended: NTP_RECOMMENDED, note: 'enable time sync: timedatectl set-ntp true, or chrony/ntpd' };
  }
  const leap = /^Leap status\s*:\s*(.+)$/m.exec((await ask(pathEnv, 'chronyc', ['-n', 'tracking'])) ?? '')?.[1]?.trim();
  if (leap) {
    return leap === 'Normal' || leap.startsWith('Insert') || leap.startsWith('Delete')
      ? { name: 'ntp', level: 'ok', current: `synchronised (chronyc: Leap status ${leap})`, recommended: NTP_RECOMMENDED }
      : { name: 'ntp', level: 'warn', current: `not synchronised (chronyc: Leap status ${leap})`, recommended: NTP_RECOMMENDED, note: 'check chronyd: chronyc sources' };
  }
  return { name: 'ntp', level: 'info', current: 'unknown: neither timedatectl nor chronyc answered', recommended: NTP_RECOMMENDED, note: 'check the host\'s time sync by hand (in a container: the host\'s)' };
}

export function runHostChecks(options: HostCheckOptions): HostCheck[] {
  return [...sysctlChecks(options.root), ...filesystemChecks(options), freeSpaceCheck(options), lmdbUtilsCheck(options.pathEnv), clockCheck(options)];
}
