import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runHostChecks } from '../../src/doctor/checks.js';
import { tempDir } from '../support/helpers.js';

function fakeRoot(files: Record<string, string>): string {
  const root = tempDir('synup-root-');
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text + '\n');
  }
  return root;
}

const tuned = {
  'proc/sys/vm/swappiness': '10',
  'proc/sys/vm/dirty_expire_centisecs': '20',
  'proc/sys/vm/dirty_writeback_centisecs': '20',
  'proc/sys/vm/dirty_background_ratio': '2',
  'proc/sys/vm/dirty_ratio': '4',
};

describe('doctor host checks', () => {
  it('passes a host tuned as the devops guide says, on a local SSD', () => {
    const data = tempDir();
    const root = fakeRoot({ ...tuned, 'proc/mounts': `/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/nvme0n1p3 ${data} xfs rw 0 0`, 'sys/block/nvme0n1p3/queue/rotational': '0' });
    const checks = runHostChecks({ root, dataDir: data, pathEnv: '', now: new Date() });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['vm.swappiness']).toMatchObject({ level: 'ok', current: '10', recommended: '10' });
    expect(byName.filesystem).toMatchObject({ level: 'ok', current: `xfs on ${data}` });
    expect(byName.disk?.level).toBe('ok');
    expect(checks.filter((c) => c.level === 'fail' || c.level === 'warn')).toEqual([]);
  });

  it('shows current vs recommended for untuned sysctls, notes the RAM-dependent ratios, fails NFS, warns on HDD', () => {
    const data = tempDir();
    const root = fakeRoot({
      ...tuned,
      'proc/sys/vm/swappiness': '60',
      'proc/sys/vm/dirty_ratio': '20',
      'proc/mounts': `server:/export ${data} nfs4 rw 0 0`,
      'sys/block/export/queue/rotational': '1',
    });
    const checks = runHostChecks({ root, dataDir: data, pathEnv: '', now: new Date() });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['vm.swappiness']).toMatchObject({ level: 'warn', current: '60', recommended: '10' });
    expect(byName['vm.dirty_ratio']).toMatchObject({ level: 'warn', current: '20' });
    expect(byName['vm.dirty_ratio']?.note).toMatch(/RAM/);
    expect(byName.filesystem).toMatchObject({ level: 'fail', current: `nfs4 on ${data}` });
  });

  it('fails free space below the need and a clock behind the data', () => {
    const data = tempDir();
    const checks = runHostChecks({ root: fakeRoot(tuned), dataDir: data, neededBytes: 2 ** 60, pathEnv: '', now: new Date('2019-01-01') });
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName['free-space']?.level).toBe('fail');
    expect(byName.clock?.level).toBe('fail');
    expect(byName.filesystem?.level).toBe('info');
  });

  it('finds lmdb-utils on PATH', () => {
    const bin = tempDir();
    writeFileSync(path.join(bin, 'mdb_copy'), '');
    writeFileSync(path.join(bin, 'mdb_stat'), '');
    const checks = runHostChecks({ root: fakeRoot(tuned), dataDir: tempDir(), pathEnv: `/nonexistent:${bin}`, now: new Date() });
    expect(checks.find((c) => c.name === 'lmdb-utils')).toMatchObject({ level: 'ok' });
  });
});
