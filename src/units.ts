/**
 * Durations and bytes, the one module for them: durations as synup.yaml and flags write them (parse, and back),
 * durations and sizes as people read them.
 */
const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `90s`, `15m`, `24h`, `7d`, `500ms` or a bare number of seconds into milliseconds; null if malformed. */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return null;
  return Number(match[1]) * units[match[2] ?? 's']!;
}

/** A config duration as an operator writes it in synup.yaml: 86400000 → "24h", 604800000 → "7d", 30000 → "30s". */
export function formatConfigDuration(ms: number): string {
  const units = [['d', 86_400_000, 7], ['h', 3_600_000, 1], ['m', 60_000, 1], ['s', 1000, 1]] as const;
  for (const [unit, size, atLeast] of units) {
    if (ms >= size * atLeast && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A duration for people: "850 ms", "12.5 s", "2 min 5 s", "1 h", "1 h 5 min", "2 d 3 h": the largest unit and the next, zeros left out. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  const units = [['d', 86_400], ['h', 3_600], ['min', 60], ['s', 1]] as const;
  const seconds = Math.round(ms / 1000);
  const first = units.findIndex(([, size]) => seconds >= size);
  return units
    .slice(first, first + 2)
    .map(([unit, size], i) => [unit, i === 0 ? Math.floor(seconds / size) : Math.floor((seconds % units[first]![1]) / size)] as const)
    .filter(([, n]) => n > 0)
    .map(([unit, n]) => `${n} ${unit}`)
    .join(' ');
}

/** Bytes for people: "512 B", "1.5 KiB" … "2.0 TiB" (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
