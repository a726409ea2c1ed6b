import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { SynupError } from '../errors.js';

/** Dirs Synapse's own backup tool always skips (`synapse.tools.service.backup`): runtime scratch and backups. */
export const DEFAULT_SKIP_DIRS = ['**/tmp', '**/backups'];

export interface EnvEntry {
  /** Path relative to the cell dir, '/'-separated ('.' when the dir itself is an env). */
  rel: string;
  dir: string;
  /** Apparent size of data.mdb. */
  dataBytes: number;
  /** Blocks data.mdb really occupies (it may be sparse). */
  allocatedBytes: number;
  mode: number;
  mtimeMs: number;
}

export interface FileEntry {
  rel: string;
  size: number;
  allocatedBytes: number;
  mode: number;
  mtimeMs: number;
}

export interface DirEntry {
  rel: string;
  mode: number;
  mtimeMs: number;
}

export interface LinkEntry {
  rel: string;
  target: string;
  /** The target resolves outside the cell dir: kept as a link, never followed. */
  escapes: boolean;
}

/** What a cell dir holds, the way Synapse's backup tool sees it: envs (dirs with data.mdb), other files, links. */
export interface CellTree {
  root: string;
  envs: EnvEntry[];
  /** Dirs to recreate (env dirs included), parents before children. */
  dirs: DirEntry[];
  /** Regular files outside env dirs. */
  files: FileEntry[];
  symlinks: LinkEntry[];
  /** `*.lmdb` without a data.mdb: reported, not copied. */
  orphans: string[];
  /** Dirs left out by a skip glob. */
  skipped: string[];
  /** Sockets, fifos, devices: not data. */
  special: string[];
}

export interface ScanOptions {
  /** Globs of dirs to leave out (default DEFAULT_SKIP_DIRS); see `matchesSkipGlob`. */
  skipDirs?: string[];
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/**
 * Python fnmatch semantics, as Synapse's `--skipdirs` (`*` also matches `/`), tried on `./<rel>` (Synapse's form,
 * so `**\/tmp` matches a top-level tmp too) and on `<rel>`; a glob without `/` also matches a dir's own name anywhere.
 */
export function matchesSkipGlob(rel: string, globs: string[]): boolean {
  return globs.some((glob) => {
    const re = globToRegExp(glob);
    return re.test(`./${rel}`) || re.test(rel) || (!glob.includes('/') && re.test(path.posix.basename(rel)));
  });
}

/** Walks a cell dir without following any symlink; every dir holding a data.mdb is an env (not descended into). */
export async function scanCell(cellDir: string, options: ScanOptions = {}): Promise<CellTree> {
  const skipDirs = options.skipDirs ?? DEFAULT_SKIP_DIRS;
  const root = path.resolve(cellDir);
  const top = await lstat(root).catch((error: NodeJS.ErrnoException) => {
    throw new SynupError('usage', `cannot read cell dir ${root}: ${error.code === 'ENOENT' ? 'it does not exist' : error.code ?? error.message}`);
  });
  if (!top.isDirectory()) throw new SynupError('usage', `${root} is not a directory`, { hint: 'pass a cell storage dir (the one holding cell.yaml, cell.guid, slabs/)' });
  const tree: CellTree = { root, envs: [], dirs: [], files: [], symlinks: [], orphans: [], skipped: [], special: [] };

  async function visit(rel: string): Promise<void> {
    const abs = rel === '.' ? root : path.join(root, rel);
    const entries = await readdir(abs, { withFileTypes: true });
    const data = entries.find((e) => e.name === 'data.mdb' && e.isFile());
    if (data) {
      const [dataStat, dirStat] = await Promise.all([lstat(path.join(abs, 'data.mdb')), lstat(abs)]);
      tree.envs.push({ rel, dir: abs, dataBytes: dataStat.size, allocatedBytes: dataStat.blocks * 512, mode: dataStat.mode & 0o7777, mtimeMs: dataStat.mtimeMs });
      if (rel !== '.') tree.dirs.push({ rel, mode: dirStat.mode & 0o7777, mtimeMs: dirStat.mtimeMs });
      return;
    }
    if (rel.endsWith('.lmdb')) {
      tree.orphans.push(rel);
      return;
    }
    if (rel !== '.') {
      const st = await lstat(abs);
      tree.dirs.push({ rel, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const childRel = rel === '.' ? entry.name : `${rel}/${entry.name}`;
      const childAbs = path.join(abs, entry.name);
      if (entry.isDirectory()) {
        if (matchesSkipGlob(childRel, skipDirs)) tree.skipped.push(childRel);
        else await visit(childRel);
      } else if (entry.isSymbolicLink()) {
        const target = await readlink(childAbs);
        const resolved = path.resolve(path.dirname(childAbs), target);
        tree.symlinks.push({ rel: childRel, target, escapes: resolved !== root && !resolved.startsWith(root + path.sep) });
      } else if (entry.isFile()) {
        if (childRel.endsWith('.lmdb')) tree.orphans.push(childRel);
        else {
          const st = await lstat(childAbs);
          tree.files.push({ rel: childRel, size: st.size, allocatedBytes: st.blocks * 512, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
        }
      } else {
        tree.special.push(childRel);
      }
    }
  }

  await visit('.');
  return tree;
}

export interface DiscoveredEnvs {
  envs: EnvEntry[];
  /** `*.lmdb` paths without a data.mdb. */
  orphans: string[];
  skipped: string[];
}

/** Every LMDB env of a cell (a dir holding data.mdb), skipping tmp/ and backups/ (and `skipDirs`), largest first. */
export async function discoverEnvs(cellDir: string, options: ScanOptions = {}): Promise<DiscoveredEnvs> {
  const tree = await scanCell(cellDir, options);
  return { envs: largestFirst(tree.envs), orphans: tree.orphans, skipped: tree.skipped };
}

export function largestFirst<T extends { dataBytes: number; rel: string }>(envs: T[]): T[] {
  return [...envs].sort((a, b) => b.dataBytes - a.dataBytes || (a.rel < b.rel ? -1 : 1));
}
