import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { SynupError } from '../../src/errors.js';
import { synup, tempDir } from '../support/helpers.js';
import { resolveSettings } from '../../src/config/settings.js';

function load(yaml: string | null, env: Record<string, string> = {}) {
  const dir = tempDir();
  if (yaml !== null) writeFileSync(path.join(dir, 'synup.yaml'), yaml);
  return loadConfig({ cwd: dir, env });
}

function loadError(yaml: string): SynupError {
  try {
    load(yaml);
  } catch (error) {
    expect(error).toBeInstanceOf(SynupError);
    return error as SynupError;
  }
  throw new Error('expected a config error');
}

describe('synup.yaml', () => {
  it('gives defaults without a file', () => {
    const { config, file } = load(null);
    expect(file).toBeNull();
    expect(config.service.adapter).toBe('process');
    expect(config.backup.maxAge).toBe(24 * 3_600_000);
    expect(config.health.port).toBe(4443);
  });

  it('parses durations and resolves relative paths against the file', () => {
    const { config, file } = load('cell: {dir: ./cortex00}\nbackup: {maxAge: 90m, dir: ../b}\nservice: {stopTimeout: 5s}\n');
    const base = path.dirname(file!);
    expect(config.cell.dir).toBe(path.join(base, 'cortex00'));
    expect(config.backup.dir).toBe(path.resolve(base, '../b'));
    expect(config.backup.maxAge).toBe(90 * 60_000);
    expect(config.service.stopTimeout).toBe(5000);
  });

  it('resolves a relative SYNUP_* path against the cwd, a relative path in the file against the file', () => {
    const cwd = tempDir();
    const configDir = path.join(cwd, 'etc');
    mkdirSync(configDir);
    writeFileSync(path.join(configDir, 'synup.yaml'), 'backup: {dir: ./b}\n');
    const { config } = loadConfig({ cwd, file: 'etc/synup.yaml', env: { SYNUP_STATE_DIR: 'state', SYNUP_CELL_DIR: 'data/cortex00', SYNUP_CHANGELOG: 'CHANGELOG.rst' } });
    expect(config.state.dir).toBe(path.join(cwd, 'state'));
    expect(config.cell.dir).toBe(path.join(cwd, 'data', 'cortex00'));
    expect(config.changelog).toBe(path.join(cwd, 'CHANGELOG.rst'));
    expect(config.backup.dir).toBe(path.join(configDir, 'b'));
  });

  it('lets SYNUP_* variables override the file', () => {
    const { config } = load('cell: {dir: /a}\n', { SYNUP_CELL_DIR: '/b', SYNUP_HEALTH_PASSWORD: 's3cret' });
    expect(config.cell.dir).toBe('/b');
    expect(config.health.password).toBe('s3cret');
  });

  it.each([
    ['unknown key', 'cell: {dri: /x}\n', /cell: unknown key "dri"/],
    ['wrong type', 'health: {port: "https"}\n', /health\.port: .*number/i],
    ['port out of range', 'health: {port: 70000}\n', /health\.port/],
    ['bad duration', 'backup: {maxAge: soon}\n', /backup\.maxAge: expected a duration like 90s/],
    ['unknown adapter', 'service: {adapter: podman}\n', /service\.adapter/],
    ['not a mapping', '- a\n- b\n', /expected a mapping at the top level, received a list/],
    ['invalid YAML', 'cell: {dir: [\n', /is not valid YAML/],
    ['empty command argv', 'service: {process: {command: []}}\n', /service\.process\.command/],
    ['a host with a scheme', "health: {host: 'https://127.0.0.1'}\n", /health\.host: expected a host name or IP address/],
    ['a host with a port', "health: {host: '127.0.0.1:4443'}\n", /health\.host: expected a host name or IP address/],
    ['a zero stop deadline', 'service: {stopTimeout: 0}\n', /service\.stopTimeout: expected a duration above zero/],
    ['a zero start deadline', 'health: {startTimeout: 0s}\n', /health\.startTimeout: expected a duration above zero/],
    ['a cell name with a /', 'cell: {name: a/b}\n', /cell\.name: expected a name/],
    ['a cell name of ..', "cell: {name: '..'}\n", /cell\.name: expected a name/],
  ])('rejects %s with its path and what was expected', (_name, yaml, message) => {
    const error = loadError(yaml);
    expect(error.code).toBe('usage');
    expect(error.message).toMatch(message);
  });

  it('refuses a missing --config file', () => {
    expect(() => loadConfig({ file: 'nope.yaml', cwd: tempDir() })).toThrow(/cannot read config .*nope\.yaml: ENOENT/);
  });
});

describe('settings: flags > SYNUP_* > synup.yaml > defaults, resolved once', () => {
  it('applies setting flags over the file and the environment; list flags add to the configured lists', () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, 'synup.yaml'), 'cell: {dir: /from-file}\nbackup: {engine: mdb_copy, skipDirs: [a]}\nupgrade: {ignorePreflight: [disk-space]}\n');
    const settings = resolveSettings({
      cwd,
      env: { SYNUP_CELL_DIR: '/from-env', XDG_STATE_HOME: path.join(cwd, 'xdg') },
      flags: { dir: 'cells/cortex00', changelog: 'CHANGELOG.rst', engine: 'builtin', jobs: 3, skipDirs: ['b'], ignorePreflight: ['clock'] },
    });
    expect(settings.config.cell.dir).toBe(path.join(cwd, 'cells', 'cortex00'));
    expect(settings.config.changelog).toBe('CHANGELOG.rst');
    expect(settings.config.backup).toMatchObject({ engine: 'builtin', jobs: 3, skipDirs: ['a', 'b'] });
    expect(settings.config.upgrade.ignorePreflight).toEqual(['disk-space', 'clock']);
    expect(settings.stateDir).toBe(path.join(cwd, 'xdg', 'synup'));
  });

  it('refuses --dir when the Kubernetes cell is on its volume (exit 2, one line, nothing written)', async () => {
    const cwd = tempDir();
    const state = path.join(cwd, 'state');
    writeFileSync(path.join(cwd, 'synup.yaml'), `state: {dir: ${state}}\nservice: {adapter: kubernetes, kubernetes: {name: cortex, data: volume}}\n`);
    const result = await synup(['prune', '--dir', 'somewhere'], { cwd });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.split('\n').filter(Boolean)[0]).toBe("synup: --dir names a local cell dir, but service.kubernetes.data is volume (the data is on the workload's volume)");
    expect(readdirSync(cwd)).toEqual(['synup.yaml']);
  });
});
