import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The drawn structure of src/: arrows run one way, from a higher layer to a lower one, and never in a circle.
 * cli → deploy → runner → plan/backup/service/health/doctor/volume → lmdb/config/changelog/safety → base (ui/, errors, fsutil, proc, version…).
 * A module may import from its own layer's folder or any lower layer; type-only imports count too (they are arrows).
 */
const LAYERS: Record<string, number> = {
  // The commands: nothing imports them but bin/synup.js. The deployment engine is a library below them (the
  // single-cell upgrade and rehearsal it runs per service are handed in by cli/deploy.ts).
  cli: 6,
  deploy: 5,
  runner: 4,
  plan: 3, backup: 3, service: 3, health: 3, doctor: 3, volume: 3,
  lmdb: 2, config: 2, changelog: 2, safety: 2,
  ui: 1, base: 1,
};

const SRC = path.resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** The folder right under src/ that a file belongs to; files directly in src/ are the base. */
const areaOf = (file: string) => {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? 'base' : rel[0]!;
};

/** Relative imports of a file (static, type-only, re-exports and dynamic import()), as src/ paths of .ts files. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s).replace(/\.js$/, '.ts'));
}

function graph(): Map<string, string[]> {
  return new Map(sourceFiles(SRC).map((f) => [f, importsOf(f)]));
}

const rel = (f: string) => path.relative(SRC, f);

describe('src/ import structure', () => {
  it('every folder under src/ has a layer', () => {
    const unknown = [...new Set(sourceFiles(SRC).map(areaOf))].filter((a) => !(a in LAYERS));
    expect(unknown).toEqual([]);
  });

  it('every relative import names a file that exists', () => {
    const missing = [...graph()].flatMap(([f, deps]) => deps.filter((d) => !fs.existsSync(d)).map((d) => `${rel(f)} → ${rel(d)}`));
    expect(missing).toEqual([]);
  });

  it('no import runs from a lower layer to a higher one', () => {
    const upward = [...graph()].flatMap(([f, deps]) =>
      deps.filter((d) => LAYERS[areaOf(d)]! > LAYERS[areaOf(f)]!).map((d) => `${rel(f)} → ${rel(d)}`));
    expect(upward).toEqual([]);
  });

  it('nothing below cli/ imports from cli/', () => {
    const intoCli = [...graph()].flatMap(([f, deps]) =>
      areaOf(f) === 'cli' ? [] : deps.filter((d) => areaOf(d) === 'cli').map((d) => `${rel(f)} → ${rel(d)}`));
    expect(intoCli).toEqual([]);
  });

  it('the import graph has no cycle', () => {
    const g = graph();
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, stack: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].map(rel).join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const d of g.get(f) ?? []) visit(d, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of g.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
