// Where the config comes from: -c, SYNUP_CONFIG, ./synup.yaml, then /etc/synup/synup.yaml (so `synup resume` works
// from any directory after an SSH drop).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findConfigFile, loadConfig, SYSTEM_CONFIG_FILE } from '../../src/config/load.js';
import { synup, tempDir } from '../support/helpers.js';

function dirs() {
  const root = tempDir('synup-config-');
  const here = path.join(root, 'here');
  const etc = path.join(root, 'etc', 'synup');
  mkdirSync(here, { recursive: true });
  mkdirSync(etc, { recursive: true });
  const system = path.join(etc, 'synup.yaml');
  writeFileSync(system, 'cell: {name: from-system, dir: ./cell}\n');
  return { root, here, system };
}

describe('config lookup', () => {
  it('order: -c, then SYNUP_CONFIG, then ./synup.yaml, then the system file; relative paths resolve against the file', () => {
    const d = dirs();
    expect(SYSTEM_CONFIG_FILE).toBe('/etc/synup/synup.yaml');
    expect(findConfigFile({ cwd: d.here, env: {}, systemFile: d.system })).toBe(d.system);
    expect(loadConfig({ cwd: d.here, env: {}, systemFile: d.system }).config.cell).toMatchObject({ name: 'from-system', dir: path.join(path.dirname(d.system), 'cell') });

    writeFileSync(path.join(d.here, 'synup.yaml'), 'cell: {name: from-cwd}\n');
    expect(findConfigFile({ cwd: d.here, env: {}, systemFile: d.system })).toBe(path.join(d.here, 'synup.yaml'));

    writeFileSync(path.join(d.root, 'env.yaml'), 'cell: {name: from-env}\n');
    expect(loadConfig({ cwd: d.here, env: { SYNUP_CONFIG: '../env.yaml' }, systemFile: d.system }).config.cell.name).toBe('from-env');

    writeFileSync(path.join(d.root, 'flag.yaml'), 'cell: {name: from-flag}\n');
    expect(loadConfig({ cwd: d.here, file: '../flag.yaml', env: { SYNUP_CONFIG: '../env.yaml' }, systemFile: d.system }).config.cell.name).toBe('from-flag');
  });

  it('with none of them, defaults apply (no file)', () => {
    const d = dirs();
    expect(loadConfig({ cwd: d.here, env: {}, systemFile: path.join(d.root, 'missing.yaml') }).file).toBeNull();
  });

  it('a SYNUP_CONFIG that does not exist is a usage error naming it (exit 2), from any directory', async () => {
    const d = dirs();
    const result = await synup(['status'], { cwd: d.here, env: { SYNUP_CONFIG: path.join(d.root, 'nope.yaml') } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`cannot read config ${path.join(d.root, 'nope.yaml')}: ENOENT`);
  });
});
