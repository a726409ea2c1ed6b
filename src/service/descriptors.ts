import { readdirSync, readFileSync } from 'node:fs';

/** Linux's O_CLOEXEC as /proc/<pid>/fdinfo prints open flags (octal). */
const O_CLOEXEC = 0o2000000;

/**
 * This process's descriptors above stdio that a child would inherit: those without close-on-exec. Node and libuv open
 * everything close-on-exec; LMDB opens each env's data.mdb without it (by design: lmdb.h lets a forked child use the
 * env), so synup's journal and every env lmdb-js keeps open are here; so is whatever synup itself inherited. Empty
 * without /proc.
 */
export function inheritableDescriptors(): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fdinfo');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    try {
      const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${name}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) found.push(fd);
    } catch {
      // closed meanwhile (the readdir's own descriptor)
    }
  }
  return found.sort((a, b) => a - b);
}

export type StdioEntry = 'ignore' | number;

/**
 * The stdio of a long-lived child (the service) that carries none of synup's descriptors: `stdio` (0, 1, 2), then at
 * each number a child would inherit (inheritableDescriptors), `devNull` instead. Node cannot set close-on-exec on a
 * descriptor LMDB opened, nor make the child close it; spawn's stdio replaces it (dup2 in the child), so the service
 * finds /dev/null there: no journal, no env of synup, no pipe or socket of synup's parent.
 */
export function sealedStdio(stdio: [StdioEntry, StdioEntry, StdioEntry], devNull: number, inherited = inheritableDescriptors()): StdioEntry[] {
  const all: StdioEntry[] = [...stdio];
  for (const fd of inherited) {
    while (all.length < fd) all.push('ignore');
    all[fd] = devNull;
  }
  return all;
}
