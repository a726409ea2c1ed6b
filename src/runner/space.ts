import { lstatSync, readdirSync, statfsSync } from 'node:fs';
import path from 'node:path';
import type { RunRecord } from './journal.js';
import { inodeOf } from '../siblings.js';

/** Bytes really on disk (st_blocks) under `dir`, symlinks not followed; 0 when it is gone. */
export function diskUsage(dir: string): number {
  let total = 0;
  const walk = (p: string) => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    total += st.blocks * 512;
    if (st.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  return total;
}

export interface KeptSpace {
  /** What `synup prune` would free of this run: its dirs still beside the cell (the failed data, a stray staging). */
  keptBytes: number;
  freeBytes: number;
  usedPercent: number;
  /** The filesystem is nearly full with them: less free than they take, or 90 % used or more. */
  full: boolean;
}

/**
 * After a rollback: how much the dirs this run kept beside the cell take, and how full their filesystem is. A failed
 * upgrade can leave the filesystem at 100 % (the new version's data is kept for diagnosis); the operator must be told,
 * with what `prune` frees. Null when the run kept nothing.
 */
export function keptSpace(run: RunRecord): KeptSpace | null {
  const kept = run.owned.filter((o) => inodeOf(o.path) === o.ino);
  if (kept.length === 0) return null;
  const keptBytes = kept.reduce((sum, o) => sum + diskUsage(o.path), 0);
  try {
    const fs = statfsSync(path.dirname(run.cellDir));
    const freeBytes = fs.bavail * fs.bsize;
    const totalBytes = fs.blocks * fs.bsize;
    const usedPercent = totalBytes > 0 ? Math.round(((totalBytes - fs.bfree * fs.bsize) / totalBytes) * 100) : 0;
    return { keptBytes, freeBytes, usedPercent, full: freeBytes < keptBytes || usedPercent >= 90 };
  } catch {
    return null;
  }
}
