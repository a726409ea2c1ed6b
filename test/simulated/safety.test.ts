// Issue 11, "Can leave the cell down or lose writes": each way through the CLI, on real sim cells. Every refusal is
// exit 3 with one clear line, before anything is stopped or written.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { sealManifest, type Manifest } from '../../src/backup/manifest.js';
import { acquireLock, cellLockFile } from '../../src/safety/lock.js';
import { createSimCell, startSim } from '../sim/index.js';
import { fileDigests, useSims } from '../sim/testing.js';
import { synup, synupBin, tempDir } from '../support/helpers.js';
import { startHarness, type Harness } from '../support/upgrade-harness.js';
import { waitFor } from '../support/budget.js';

let harness: Harness | undefined;
const sims = useSims();
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

const onlyBackup = (h: Harness) => readdirSync(h.backupsDir).map((n) => path.join(h.backupsDir, n));
const pidOf = async (h: Harness) => (await h.adapter.status()).pid;
/** The error line synup printed last (without the `fix:` line). */
/** For the tests that are not about how long the sim migrates: 0.3 s per release, not 1.5 s. */
const startQuick = () => startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '300' } });
const errorLine = (stderr: string) => stderr.split('\n').findLast((l) => l.startsWith('synup: ')) ?? '';

function rewriteConfig(h: Harness, edit: (yaml: string) => string): void {
  const file = path.join(h.work, 'synup.yaml');
  writeFileSync(file, edit(readFileSync(file, 'utf8')));
}

/** A plain stopped sim cell and a verified backup of it (no service): for the backup/restore/verify commands. */
async function cellWithBackup(): Promise<{ work: string; cellDir: string; backupDir: string }> {
  const work = tempDir('synup-safety-');
  const cellDir = path.join(work, 'cortex00');
  await createSimCell(cellDir, { version: '2.180.0', seed: 50 });
  const backupDir = path.join(work, 'backups', 'b1');
  mkdirSync(path.dirname(backupDir));
  const made = await synup(['backup', cellDir, backupDir], { cwd: work });
  expect(made.exitCode, made.stderr).toBe(0);
  return { work, cellDir, backupDir };
}

function resealManifest(backupDir: string, change: (m: Manifest) => void): void {
  const file = path.join(backupDir, 'manifest.json');
  const { checksum: _old, ...body } = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  change(body as Manifest);
  writeFileSync(file, JSON.stringify(sealManifest(body), null, 2) + '\n');
}

function chattrWorks(): boolean {
  const dir = tempDir('synup-chattr-');
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const CHATTR = chattrWorks();

describe('issue 11: refusals before any downtime', () => {
  it('1: rollback whose rollback point was pruned is refused before stopping anything (exit 3)', async () => {
    harness = await startQuick();
    expect((await harness.run(['upgrade', '--to', '2.182.0', '-y'])).exitCode).toBe(0);
    expect((await harness.run(['prune', '--older-than', '0s'])).exitCode).toBe(0);
    const pid = await pidOf(harness);
    const siblings = harness.siblings();
    const result = await harness.run(['rollback', '--force', '-y']);
    expect(result.exitCode).toBe(3);
    expect(errorLine(result.stderr)).toMatch(/^synup: cannot roll back run \S+: its rollback point .*synup-pre-\S+ is gone \(pruned or moved\); nothing was stopped$/);
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(siblings);
    expect(await harness.version()).toBe('2.182.0');
    // resume has nothing to repeat: the run is still done
    expect((await harness.run(['resume', '-y'])).stderr).toMatch(/Nothing to resume: the last run \S+ ended done/);
  });

  it('2: preflight refuses when health.port answers with another cell\'s certificate, nothing stopped (exit 3)', async () => {
    harness = await startQuick();
    const otherDir = path.join(tempDir('synup-other-'), 'other');
    await createSimCell(otherDir, { version: '2.180.0' });
    const other = await sims.start({ dir: otherDir, version: '2.180.0' });
    await other.waitForLog(/cell is active/);
    rewriteConfig(harness, (y) => y.replace(`health: {port: ${harness!.port}`, `health: {port: ${other.port}`));
    const pid = await pidOf(harness);
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(result.exitCode).toBe(3);
    expect(errorLine(result.stderr)).toMatch(/^synup: \[ERROR service-identity\] cannot prove the service on https:\/\/127\.0\.0\.1:\d+ is this cell: .* presents a different certificate than the cell's own .*sslcert\.pem.*; nothing was stopped$/);
    expect(result.stderr).not.toContain('[upgrade/stop] running');
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(['cortex00']);
    expect(other.child.exitCode).toBeNull();
  });

  it('3: restore --replace refuses while the service or a synup run holds the target (exit 3), nothing moved', async () => {
    harness = await startQuick();
    const [backup] = onlyBackup(harness);
    const pid = await pidOf(harness);
    const live = await harness.run(['restore', backup!, harness.cellDir, '--replace']);
    expect(live.exitCode).toBe(3);
    expect(errorLine(live.stderr)).toMatch(/^synup: restore refused: pid \d+ \(.*lock on .*cell\.guid( and \d+ more files?)?\).* still holds? .*cortex00; nothing was changed$/);
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(['cortex00']);

    await harness.adapter.stop({ timeoutMs: 5000 });
    const before = fileDigests(harness.cellDir);
    const lock = acquireLock(cellLockFile(harness.cellDir), harness.cellDir, { runId: 'test-run', command: 'upgrade' });
    try {
      const locked = await harness.run(['restore', backup!, harness.cellDir, '--replace']);
      expect(locked.exitCode).toBe(3);
      expect(errorLine(locked.stderr)).toMatch(/^synup: restore refused: synup upgrade \(pid \d+ .*run test-run\) holds .*cortex00; nothing was changed$/);
    } finally {
      lock.release();
    }
    expect(harness.siblings()).toEqual(['cortex00']);
    expect(fileDigests(harness.cellDir)).toEqual(before);
  });

  it('4 and 10: after an upgrade, the gate refuses a backup from before it; rolling back an older run is refused naming the later one', async () => {
    harness = await startQuick();
    expect((await harness.run(['upgrade', '--to', '2.181.0', '-y'])).exitCode).toBe(0);
    const stale = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(stale.exitCode).toBe(3);
    expect(stale.stderr).toMatch(/synup: no verified backup of this cell newer than/);
    expect(stale.stderr).toMatch(/: taken at data version 2\.180\.0, the cell is now at 2\.181\.0/);
    expect(await harness.version()).toBe('2.181.0');

    expect((await harness.run(['upgrade', '--to', '2.182.0', '--backup', '-y'])).exitCode).toBe(0);
    const runs = JSON.parse((await harness.run(['history', '--json'])).stdout).runs as { id: string; to: string }[];
    const first = runs.find((r) => r.to === '2.181.0')!.id;
    const second = runs.find((r) => r.to === '2.182.0')!.id;
    const pid = await pidOf(harness);
    const siblings = harness.siblings();
    const older = await harness.run(['rollback', '--run', first, '--force', '-y']);
    expect(older.exitCode).toBe(3);
    expect(errorLine(older.stderr)).toBe(`synup: run ${first} is not the latest run of ${harness.cellDir}: rolling it back would also undo ${second} (2.181.0 → 2.182.0, done); nothing was changed`);
    expect(older.stderr).toContain(`synup rollback --run ${second}`);
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(siblings);
    expect(await harness.version()).toBe('2.182.0');
  });

  it('5: the gate and restore re-hash the backup: 64 flipped bytes (same size) after verify are refused (exit 3)', async () => {
    harness = await startQuick();
    const [backup] = onlyBackup(harness);
    const layers = path.join(backup!, 'layers');
    const layer = readdirSync(layers)[0]!;
    const file = path.join(layers, layer, 'layer_v2.lmdb', 'data.mdb');
    const size = statSync(file).size;
    const bytes = readFileSync(file).subarray(size / 2, size / 2 + 64).map((b) => b ^ 0xff);
    const fd = openSync(file, 'r+');
    writeSync(fd, bytes, 0, 64, size / 2);
    closeSync(fd);
    expect(statSync(file).size).toBe(size);
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toMatch(/: changed since verification: layers\/\S+\/layer_v2\.lmdb\/data\.mdb bytes differ from those verified \(xxh64 [0-9a-f]+, expected [0-9a-f]+\)/);
    expect(harness.siblings()).toEqual(['cortex00']);
    expect((await harness.adapter.status()).running).toBe(true);
    // restore (and rehearse, which restores) goes by the same proof, before writing anything
    const restore = await harness.run(['restore', backup!, path.join(harness.work, 'restored')]);
    expect(restore.exitCode).toBe(3);
    expect(errorLine(restore.stderr)).toMatch(/^synup: cannot restore from .*: changed since it was written: layers\/\S+\/data\.mdb bytes differ from those verified .*; nothing was changed$/);
    expect(existsSync(path.join(harness.work, 'restored'))).toBe(false);

    // An intact backup passes, and the gate says what the re-hash cost.
    expect((await harness.run(['backup', harness.cellDir])).exitCode).toBe(0);
    const ok = await harness.run(['upgrade', '--to', '2.181.0', '-y']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/verified; [\d.]+ (KiB|MiB) re-hashed unchanged in \d+ ms/);
  });

  it('6: restore refuses a manifest whose paths climb out of the target or go through a symlink (exit 3), nothing written', async () => {
    const { work, backupDir } = await cellWithBackup();
    resealManifest(backupDir, (m) => {
      m.files[0]!.path = '../../escaped.txt';
    });
    const target = path.join(work, 'restored');
    const climb = await synup(['restore', backupDir, target], { cwd: work });
    expect(climb.exitCode).toBe(3);
    expect(errorLine(climb.stderr)).toMatch(/^synup: cannot restore from .*b1: .*manifest\.json: path "\.\.\/\.\.\/escaped\.txt" climbs out with "\.\.": a restore would write outside its target$/);
    resealManifest(backupDir, (m) => {
      m.files[0]!.path = 'cell.guid';
      m.symlinks.push({ path: 'out', target: work });
      m.files.push({ ...m.files[0]!, path: 'out/escaped.txt' });
    });
    const viaLink = await synup(['restore', backupDir, target], { cwd: work });
    expect(viaLink.exitCode).toBe(3);
    expect(errorLine(viaLink.stderr)).toMatch(/path "out\/escaped\.txt" lies below the symlink "out"/);
    expect(readdirSync(work).sort()).toEqual(['backups', 'cortex00']);
    expect(existsSync(path.join(work, '..', 'escaped.txt'))).toBe(false);
  });

  it('7: verify --cell <other cell> does not poison the backup; a restore target inside a backup is refused (exit 3)', async () => {
    const { work, backupDir } = await cellWithBackup();
    const other = path.join(work, 'other');
    await createSimCell(other, { version: '2.180.0' });
    const foreign = await synup(['verify', backupDir, '--cell', other], { cwd: work });
    expect(foreign.exitCode).toBe(1);
    expect(foreign.stderr).toMatch(/foreign-cell: the backup is of cell [0-9a-f]+, not of .*other/);
    const recorded = JSON.parse(readFileSync(path.join(backupDir, 'synup-verified.json'), 'utf8'));
    expect(recorded).toMatchObject({ ok: true, problems: [] });
    const restored = await synup(['restore', backupDir, path.join(work, 'restored')], { cwd: work });
    expect(restored.exitCode, restored.stderr).toBe(0);

    const before = fileDigests(backupDir);
    const inside = await synup(['restore', backupDir, path.join(backupDir, 'sub')], { cwd: work });
    expect(inside.exitCode).toBe(3);
    expect(errorLine(inside.stderr)).toMatch(/^synup: restore target .*b1\/sub is inside the backup .*b1: writing there would change the backup; nothing was changed$/);
    const around = await synup(['restore', backupDir, path.join(work, 'backups'), '--replace'], { cwd: work });
    expect(around.exitCode).toBe(3);
    expect(errorLine(around.stderr)).toMatch(/^synup: restore target .*backups contains the backup .*b1; nothing was changed$/);
    expect(fileDigests(backupDir)).toEqual(before);
    expect(readdirSync(path.join(work, 'backups'))).toEqual(['b1']);
  });

  it('8: a backup destination inside the cell dir (other than its skipped backups/) is refused (exit 3)', async () => {
    const { work, cellDir } = await cellWithBackup();
    const before = fileDigests(cellDir);
    const inside = await synup(['backup', cellDir, path.join(cellDir, 'mybackup')], { cwd: work });
    expect(inside.exitCode).toBe(3);
    expect(errorLine(inside.stderr)).toMatch(/^synup: backup destination .*cortex00\/mybackup is inside the cell dir \(.*cortex00\): later backups and upgrades would copy it; nothing was changed$/);
    symlinkSync(cellDir, path.join(work, 'alias'));
    const viaLink = await synup(['backup', cellDir, path.join(work, 'alias', 'sneaky')], { cwd: work });
    expect(viaLink.exitCode).toBe(3);
    expect(errorLine(viaLink.stderr)).toMatch(/is inside the cell dir/);
    expect(fileDigests(cellDir)).toEqual(before);
    const skipped = await synup(['backup', cellDir, path.join(cellDir, 'backups', 'mine')], { cwd: work });
    expect(skipped.exitCode, skipped.stderr).toBe(0);
  });

  it('11: preflight checks what would fail after stop: version syntax, binaries, port (exit 2 / 3)', async () => {
    harness = await startQuick();
    const pid = await pidOf(harness);

    for (const args of [['upgrade', '--to', '2.250.0-rc1', '-y'], ['plan', '--from', '2.180.0', '--to', '2.250.0-rc1']]) {
      const rc = await harness.run(args);
      expect(rc.exitCode).toBe(2);
      expect(errorLine(rc.stderr)).toBe('synup: --to: "2.250.0-rc1" is not a version; expected MAJOR.MINOR.PATCH, e.g. 2.170.0');
    }

    // Binaries: the command names a per-version dir, present for 2.180.0 only.
    const bin = (v: string) => path.join(harness!.work, `node-${v}`);
    mkdirSync(bin('2.180.0'));
    symlinkSync(process.execPath, path.join(bin('2.180.0'), 'node'));
    rewriteConfig(harness, (y) => y.replace(`command: [${JSON.stringify(process.execPath)}`, `command: [${JSON.stringify(path.join(harness!.work, 'node-{version}', 'node'))}`));
    const noBinary = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
    expect(noBinary.exitCode).toBe(3);
    expect(errorLine(noBinary.stderr)).toMatch(/^synup: \[ERROR start-command\] process adapter cannot start 2\.182\.0: service\.process\.command: .*node-2\.182\.0\/node is not an executable file; nothing was stopped$/);
    expect(await pidOf(harness)).toBe(pid);
    mkdirSync(bin('2.182.0'));
    symlinkSync(process.execPath, path.join(bin('2.182.0'), 'node'));

    // Port: the service is stopped, another process listens on health.port.
    await harness.adapter.stop({ timeoutMs: 5000 });
    const squatterDir = path.join(tempDir('synup-squat-'), 'squatter');
    await createSimCell(squatterDir, { version: '2.180.0' });
    const squatter = startSim({ dir: squatterDir, version: '2.180.0', port: harness.port });
    try {
      await squatter.waitForLog(/cell is active/);
      const before = fileDigests(harness.cellDir);
      const taken = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
      expect(taken.exitCode).toBe(3);
      expect(errorLine(taken.stderr)).toBe(`synup: [ERROR port] the service is stopped but something else listens on 127.0.0.1:${harness.port} (health.port): the new version could not bind it; nothing was stopped`);
      expect(fileDigests(harness.cellDir)).toEqual(before);
    } finally {
      await squatter.stop();
    }
    expect(harness.siblings()).toEqual(['cortex00']);
  });

  it.skipIf(!CHATTR)('11: preflight refuses when the staging dir cannot be created beside the cell (needs chattr +i: root on ext4/xfs)', async () => {
    harness = await startQuick();
    const pid = await pidOf(harness);
    execFileSync('chattr', ['+i', harness.work]);
    try {
      const noStaging = await harness.run(['upgrade', '--to', '2.182.0', '-y']);
      expect(noStaging.exitCode).toBe(3);
      expect(errorLine(noStaging.stderr)).toMatch(/^synup: \[ERROR staging-dir\] cannot create .*cortex00\.synup-staging-\S+\.probe beside the cell \(EPERM\): .*; nothing was stopped$/);
    } finally {
      execFileSync('chattr', ['-i', harness.work]);
    }
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(['cortex00']);
  });
});

describe('issue 11: rollback restores the state before the upgrade', () => {
  it('12: a service stopped before the upgrade stays stopped after the rollback (exit 4)', async () => {
    harness = await startQuick();
    await harness.adapter.stop({ timeoutMs: 5000 });
    const result = await harness.run(['upgrade', '--to', '2.182.0', '-y'], { SYN_SIM_FAULT: 'die-mid-migration@2.182.0' });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toMatch(/left stopped, as it was before the upgrade/);
    expect(result.stderr).toMatch(/Rolled back cortex00 to 2\.180\.0/);
    expect((await harness.adapter.status()).running).toBe(false);
    expect(await harness.version()).toBe('2.180.0');
  });
});

/** synup as a child we can signal; resolves the line `ready` matches on stderr. */
function spawnSynup(h: Harness, args: string[], env: Record<string, string> = {}) {
  // No forced SIGKILL 5 s after the test's signal (execa's default): a rollback under load may rightly take longer.
  const child = execa(process.execPath, [synupBin, ...args], { cwd: h.work, env: { CI: 'true', NO_COLOR: '1', ...env }, reject: false, stdin: 'ignore', timeout: 240_000, forceKillAfterDelay: false });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // Named apart from budget's waitFor, which it calls (the same name here made it call itself).
  const waitForLine = async (re: RegExp) => {
    await waitFor(() => {
      if (child.exitCode !== null && !re.test(stderr)) throw new Error(`synup exited before ${re}: ${stderr}`);
      return re.test(stderr);
    }, `synup prints ${re} (so far: ${stderr.slice(-200)})`, { timeoutMs: 60_000 });
  };
  return { child, waitFor: waitForLine };
}

/** Many small files make the copy long enough to be interrupted in the middle (each is copied and fsynced). */
function addManyFiles(cellDir: string, n = 3000): void {
  mkdirSync(path.join(cellDir, 'extra'));
  for (let i = 0; i < n; i++) writeFileSync(path.join(cellDir, 'extra', `f${i}.txt`), `file ${i}\n`);
}

describe('issue 11 item 9: SIGINT/SIGTERM', () => {
  it('SIGINT once the service is stopped: rolls back, says so and what resume will do, exit 130', async () => {
    harness = await startHarness({ version: '2.180.0', processEnv: { SYN_SIM_MIGRATION_MS: '20000' }, startTimeout: '30s' });
    const { child, waitFor } = spawnSynup(harness, ['upgrade', '--to', '2.182.0', '-y']);
    await waitFor(/\[upgrade\/wait-migrations\] running/);
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(result.stderr).toMatch(/synup: received SIGINT: finishing the current action, then stopping before any downtime, or rolling back once the service was stopped/);
    expect(result.stderr).toMatch(/Rolled back cortex00 to 2\.180\.0: interrupted by SIGINT/);
    expect(result.stderr).toMatch(/Stopped on SIGINT: cortex00 is back at 2\.180\.0 and running; `synup resume` has nothing to do\./);
    expect((await harness.adapter.status()).running).toBe(true);
    expect(await harness.version()).toBe('2.180.0');
    expect((await harness.run(['resume', '-y'])).stderr).toMatch(/Nothing to resume: the last run \S+ ended rolled-back/);
  });

  it('SIGTERM during the live backup of `upgrade --backup`: stops before any downtime, removes the partial backup, exit 143', async () => {
    harness = await startHarness({ version: '2.180.0', backup: false });
    addManyFiles(harness.cellDir);
    const pid = await pidOf(harness);
    const { child, waitFor } = spawnSynup(harness, ['upgrade', '--to', '2.182.0', '--backup', '-y']);
    await waitFor(/\[upgrade\/backup-gate\] running/);
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(143);
    expect(errorLine(result.stderr)).toMatch(/^synup: interrupted by SIGTERM before any downtime: nothing was stopped, the service runs as before; run \S+ is marked failed, so `synup resume` has nothing to do \(removed the partial backup .*backups\/cortex00_\d+ \(no manifest yet\); nothing else was changed\)$/);
    expect(result.stderr).not.toContain('[upgrade/stop] running');
    expect(await pidOf(harness)).toBe(pid);
    expect(harness.siblings()).toEqual(['cortex00']);
    const left = existsSync(harness.backupsDir) ? readdirSync(harness.backupsDir) : [];
    for (const name of left) expect(existsSync(path.join(harness.backupsDir, name, 'manifest.json'))).toBe(true);
  });

  it('SIGTERM during `synup backup`: removes its partial dir, exit 143', async () => {
    const work = tempDir('synup-safety-');
    const cellDir = path.join(work, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 50 });
    addManyFiles(cellDir);
    const dst = path.join(work, 'b1');
    const child = execa(process.execPath, [synupBin, 'backup', cellDir, dst], { cwd: work, env: { NO_COLOR: '1' }, reject: false, stdin: 'ignore', timeout: 240_000, forceKillAfterDelay: false });
    await waitFor(() => existsSync(path.join(dst, 'extra')) || child.exitCode !== null, 'the backup is copying', { intervalMs: 10 });
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(143);
    expect(errorLine(result.stderr)).toBe(`synup: interrupted by SIGTERM: removed the partial backup ${dst} (no manifest yet); nothing else was changed`);
    expect(existsSync(dst)).toBe(false);
    expect(readdirSync(work)).toEqual(['cortex00']);
  });

  it('SIGKILL during `synup backup` (no handler runs): the partial dir is marked as synup\'s own and removed by `synup prune`, nothing else', async () => {
    const work = tempDir('synup-safety-');
    const cellDir = path.join(work, 'cortex00');
    await createSimCell(cellDir, { version: '2.180.0', seed: 50 });
    addManyFiles(cellDir);
    const backupsDir = path.join(work, 'backups');
    mkdirSync(path.join(backupsDir, 'not-synups'), { recursive: true });
    writeFileSync(path.join(work, 'synup.yaml'), `cell: {name: cortex00, dir: ./cortex00}\nstate: {dir: ./state}\nbackup: {dir: ./backups}\n`);
    const whole = await synup(['backup', '--json'], { cwd: work });
    expect(whole.exitCode).toBe(0);
    const wholeDir = (JSON.parse(whole.stdout.trim().split('\n').at(-1)!) as { dir: string }).dir;
    const before = new Set(readdirSync(backupsDir));
    const child = execa(process.execPath, [synupBin, 'backup'], { cwd: work, env: { NO_COLOR: '1' }, reject: false, stdin: 'ignore', timeout: 60_000 });
    let partial: string | undefined;
    partial = await waitFor(() => readdirSync(backupsDir).find((n) => !before.has(n) && !n.endsWith('.synup-partial') && existsSync(path.join(backupsDir, n, 'extra'))) ?? (child.exitCode !== null ? 'exited' : undefined), 'the backup is copying', { timeoutMs: 15_000, intervalMs: 5 });
    if (partial === 'exited') partial = undefined;
    child.kill('SIGKILL');
    await child;
    expect(partial, 'the backup was killed while copying').toBeDefined();
    const partialDir = path.join(backupsDir, partial!);
    expect(existsSync(path.join(partialDir, 'manifest.json'))).toBe(false);
    expect(existsSync(`${partialDir}.synup-partial`)).toBe(true);

    const dry = await synup(['prune', '--dry-run', '--json'], { cwd: work });
    expect(dry.exitCode).toBe(0);
    expect((JSON.parse(dry.stdout) as { removed: string[] }).removed).toEqual([partialDir]);
    expect(existsSync(partialDir)).toBe(true);

    const pruned = await synup(['prune'], { cwd: work });
    expect(pruned.exitCode).toBe(0);
    expect(pruned.stderr).toContain(`removed ${partialDir}`);
    expect(readdirSync(backupsDir).sort()).toEqual([path.basename(wholeDir), 'not-synups'].sort());
    expect((await synup(['verify', wholeDir], { cwd: work })).exitCode).toBe(0);
  });
});
