// Issue 20 part 4: synup's own image (Dockerfile, docker/entrypoint.sh) built here and run the way the Kubernetes
// adapter runs it as a Job (src/service/kubernetes/manifests.ts): `volume-job <op>` with the cell's volume at the
// workload's mountPath (/vertex/storage), the backup volume at /synup/backups, SYNUP_CELL_DIR/SYNUP_CELL_NAME/
// SYNUP_BACKUP_DIR, the workload's uid 999, no privilege escalation, no restart — against a Docker volume holding a
// real Cortex's data (the lab's 2.242.0 image), each op's result proven on the data and by booting the Cortex on it.
// The image is built with the lab's Node base (no Docker Hub here) and npm's cache (no registry needed).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVolumeJobLog, type VolumeDefragResult } from '../../src/volume/result.js';
import { budget, waitFor } from '../support/budget.js';
import { containerLab, cortexImage, docker, labImageSkipReason, type ContainerLab } from '../support/container-lab.js';
import { repoRoot } from '../support/helpers.js';

const FROM = '2.242.0';
const TO = '2.250.0';
const CARDS = 1000;
const FQDNS = 3000;
/** Nodes deleted after the seed: free pages in the layer's envs, which a compaction drops. */
const DELETED = 2500;
const CELL_DIR = '/vertex/storage';
const BACKUP_DIR = '/synup/backups';
const RUN_ID = '20261206-170000-c0de';

const skipReason = labImageSkipReason('nodeImage');
if (skipReason) console.log(`synup image tests skipped: ${skipReason}`);

/** Storm over HTTPS from inside the Cortex container, its own certificate pinned; prints the JSON answer. */
const STORM = `import base64, json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile='/vertex/storage/sslcert.pem'); ctx.check_hostname = False
route, body = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
req = urllib.request.Request('https://127.0.0.1:4443' + route, data=body.encode() if body else None, method='POST' if body else 'GET')
req.add_header('Authorization', 'Basic ' + base64.b64encode(b'root:secret').decode())
print(urllib.request.urlopen(req, context=ctx, timeout=600).read().decode())`;

const prefix = `synupimg${process.pid}x${Date.now().toString(36)}`;
const names = { image: `${prefix}/synup:0.1.0`, cell: `${prefix}-cell`, backups: `${prefix}-backups`, cortex: `${prefix}-cortex` };
const created = { image: false, volumes: [] as string[], containers: new Set<string>() };

const ok = async (what: string, result: ReturnType<typeof docker>) => {
  const r = await result;
  expect(r.exitCode, `${what}: ${String(r.stderr).slice(-2000)}${String(r.stdout).slice(-2000)}`).toBe(0);
  return String(r.stdout);
};

/**
 * One volume Job, as the cluster would run it: synup's image, its entrypoint, the Job's env and mounts, the
 * workload's uid (runAsUser/runAsGroup 999), allowPrivilegeEscalation: false, restartPolicy Never (--rm, no restart).
 */
function volumeJob(lab: ContainerLab, op: string, args: string[] = [], options: { env?: Record<string, string>; backups?: boolean } = {}) {
  const env = { SYNUP_CELL_DIR: CELL_DIR, SYNUP_CELL_NAME: 'cortex00', ...(options.backups === false ? {} : { SYNUP_BACKUP_DIR: BACKUP_DIR }), ...options.env };
  const name = `${prefix}-job-${op}`;
  created.containers.add(name);
  return docker(lab, [
    'run', '--rm', '--name', name, '--user', '999:999', '--security-opt', 'no-new-privileges', '--network', 'none',
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '-v', `${names.cell}:${CELL_DIR}`, ...(options.backups === false ? [] : ['-v', `${names.backups}:${BACKUP_DIR}`]),
    names.image, 'volume-job', op, ...args,
  ], { timeoutMs: budget(300_000) });
}

/** The Cortex image `version` on the cell volume (uid 999, as Vertex's image runs); resolves once it is active. */
async function bootCortex(lab: ContainerLab, version: string): Promise<void> {
  created.containers.add(names.cortex);
  await ok(`run the ${version} Cortex`, docker(lab, ['run', '-d', '--name', names.cortex, '-v', `${names.cell}:${CELL_DIR}`, cortexImage(lab, version)]));
  await waitFor(async () => {
    const state = (await docker(lab, ['inspect', '--format', '{{.State.Status}}', names.cortex])).stdout;
    if (String(state).trim() === 'exited') throw new Error(`the ${version} Cortex exited: ${String((await docker(lab, ['logs', '--tail', '20', names.cortex])).stderr)}`);
    const r = await docker(lab, ['exec', names.cortex, 'python', '-c', STORM, '/api/v1/active'], { timeoutMs: 20_000 });
    if (r.exitCode !== 0) return false;
    return (JSON.parse(String(r.stdout)) as { result?: { active?: boolean } }).result?.active === true;
  }, `the ${version} Cortex on the volume to be active`, { timeoutMs: 180_000, intervalMs: 500 });
}

async function storm(lab: ContainerLab, query: string, vars: Record<string, unknown> = {}): Promise<unknown> {
  const answer = JSON.parse(await ok(`storm ${query}`, docker(lab, ['exec', names.cortex, 'python', '-c', STORM, '/api/v1/storm/call', JSON.stringify({ query, opts: { vars } })], { timeoutMs: budget(600_000) }))) as { status: string; result: unknown };
  expect(answer.status).toBe('ok');
  return answer.result;
}

async function stopCortex(lab: ContainerLab): Promise<void> {
  await ok('stop the Cortex', docker(lab, ['stop', '-t', '30', names.cortex]));
  await ok('remove the Cortex container', docker(lab, ['rm', '-v', names.cortex]));
  created.containers.delete(names.cortex);
}

/** A shell command's output in a throwaway container on the volumes, as uid 999 (what the Job's user sees). */
const onVolumes = (lab: ContainerLab, script: string) =>
  ok(`inspect the volumes: ${script}`, docker(lab, ['run', '--rm', '--user', '999:999', '--network', 'none', '--entrypoint', '/bin/sh', '-v', `${names.cell}:${CELL_DIR}`, '-v', `${names.backups}:${BACKUP_DIR}`, names.image, '-c', script]));

/** Bytes the data files of the cell's LMDB envs take on disk (allocated blocks: the files are sparse). */
const dataBytes = async (lab: ContainerLab) => Number((await onVolumes(lab, `find ${CELL_DIR} -path ${CELL_DIR}/.synup-defrag-${RUN_ID} -prune -o -name data.mdb -print0 | xargs -0 du -B1 -c | tail -n 1 | cut -f1`)).trim());

describe.skipIf(skipReason !== null)("synup's own image: the Kubernetes volume Jobs run by a real engine on a real Cortex's volume (issue 20)", () => {
  const lab = containerLab!;

  beforeAll(async () => {
    // The Dockerfile as it is, with the lab's Node base and npm's cache: nothing from Docker Hub or npm's registry.
    const cache = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
    const t0 = Date.now();
    created.image = true;
    await ok('docker build', docker(lab, ['build', '--build-arg', `NODE_IMAGE=${lab.nodeImage}`, '--build-arg', 'SYNUP_VERSION=0.1.0', '--build-context', `npm-cache=${cache}`, '-t', names.image, repoRoot], { timeoutMs: budget(900_000) }));
    console.log(`synup's image built in ${Date.now() - t0} ms on ${lab.nodeImage}`);

    // A real Cortex's data on a named volume (filled from the image's /vertex/storage, owned by 999 as in Vertex's).
    for (const volume of [names.cell, names.backups]) {
      created.volumes.push(volume);
      await ok(`volume ${volume}`, docker(lab, ['volume', 'create', volume]));
    }
    await ok('cell.yaml and the backup claim for uid 999', docker(lab, ['run', '--rm', '--user', '0', '--entrypoint', '/bin/sh', '-v', `${names.cell}:${CELL_DIR}`, '-v', `${names.backups}:${BACKUP_DIR}`, cortexImage(lab, FROM), '-c',
      // fsGroup would give the Job's group the backup claim; an engine has no fsGroup: its root is handed to 999 once
      `printf 'https:port: 4443\\nauth:passwd: secret\\n' > ${CELL_DIR}/cell.yaml && chown -R 999:999 ${CELL_DIR} ${BACKUP_DIR}`]));
    await bootCortex(lab, FROM);
    await storm(lab, 'for $i in $lib.range($n) { [inet:fqdn=`h{$i}.synup.test`] } fini { return((0)) }', { n: FQDNS });
    await storm(lab, 'for $i in $lib.range($c) { [econ:pay:card=* :pan=`4111110000{$i}`] } fini { return((0)) }', { c: CARDS });
    await storm(lab, 'inet:fqdn:domain=synup.test | limit $d | delnode', { d: DELETED });
    await stopCortex(lab);
  }, 1_200_000);

  afterAll(async () => {
    for (const container of created.containers) await docker(lab, ['rm', '-f', '-v', container]);
    for (const volume of created.volumes) await docker(lab, ['volume', 'rm', '-f', volume]);
    if (created.image) await docker(lab, ['image', 'rm', '-f', names.image]);
  });

  it('the image: non-root by default, its entrypoint runs synup; volume-job without a mounted SYNUP_CELL_DIR answers with the result line (exit 2)', async () => {
    const inspect = JSON.parse(await ok('image inspect', docker(lab, ['image', 'inspect', names.image]))) as [{ Config: { User: string; Entrypoint: string[]; Labels: Record<string, string> } }];
    expect(inspect[0].Config).toMatchObject({ User: '1000:1000', Entrypoint: ['/opt/synup/docker/entrypoint.sh'] });
    expect(inspect[0].Config.Labels['org.opencontainers.image.version']).toBe('0.1.0');
    const version = await ok('--version', docker(lab, ['run', '--rm', '--name', `${prefix}-version`, names.image, '--version']));
    expect(version.trim()).toBe('0.1.0');
    const unmounted = await docker(lab, ['run', '--rm', '--name', `${prefix}-unmounted`, '--user', '999:999', '-e', 'SYNUP_CELL_DIR=/nowhere', names.image, 'volume-job', 'cell-info']);
    expect(unmounted.exitCode).toBe(2);
    expect(() => parseVolumeJobLog(String(unmounted.stdout), 'cell-info', 'the Job')).toThrow(/SYNUP_CELL_DIR \(\/nowhere\) is not a mounted directory/);
  }, 300_000);

  it(`cell-info, backup, backup-gate, defrag, undo-defrag as uid 999 on the volume: the version and guid of the data; a verified backup; the gate finds it; a compaction that ${TO} boots and migrates on; the rollback that ${FROM} boots on with its data`, async () => {
    // cell-info: the data's own version and guid, the cell's certificate, room for the compacted copy
    const info = parseVolumeJobLog<{ cellVersion: string; guid: string; certPem: string | null; freeBytes: number; compactedBytes: number }>(String((await volumeJob(lab, 'cell-info')).stdout), 'cell-info', 'cell-info');
    const guid = (await onVolumes(lab, `cat ${CELL_DIR}/cell.guid`)).trim();
    expect(info).toMatchObject({ cellVersion: FROM, guid });
    expect(info.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(info.freeBytes).toBeGreaterThan(info.compactedBytes);

    // backup: cold, verified, on the backup volume, owned by the Job's user
    const backup = parseVolumeJobLog<{ dir: string; bytes: number; verified: boolean }>(String((await volumeJob(lab, 'backup')).stdout), 'backup', 'backup');
    expect(backup.verified).toBe(true);
    expect(path.dirname(backup.dir)).toBe(BACKUP_DIR);
    expect((await onVolumes(lab, `find ${backup.dir} ! -user 999 | head -n 5`)).trim()).toBe('');

    // backup-gate: the newest usable backup is that one
    const gate = parseVolumeJobLog<{ backup: { dir: string; ageMs: number } | null }>(String((await volumeJob(lab, 'backup-gate', ['--max-age', '3600s'])).stdout), 'backup-gate', 'backup-gate');
    expect(gate.backup?.dir).toBe(backup.dir);

    // defrag: compacted (the deleted nodes' pages are gone), verified, swapped in place inside the mount point
    const before = await dataBytes(lab);
    const defrag = parseVolumeJobLog<VolumeDefragResult>(String((await volumeJob(lab, 'defrag', ['--run', RUN_ID], { backups: false })).stdout), 'defrag', 'defrag');
    const after = await dataBytes(lab);
    console.log(`defrag in the volume: ${defrag.bytesBefore} → ${defrag.bytesAfter} bytes (engine ${defrag.engine}, ${defrag.durationMs} ms); data.mdb on disk ${before} → ${after}`);
    expect(defrag.swapped).toContain('slabs');
    expect(defrag.bytesAfter).toBeLessThan(defrag.bytesBefore);
    expect(after).toBeLessThan(before);
    expect((await onVolumes(lab, `ls ${CELL_DIR}/.synup-defrag-${RUN_ID}/pre`)).split('\n')).toContain('slabs');
    expect((await onVolumes(lab, `find ${CELL_DIR} ! -user 999 | head -n 5`)).trim()).toBe('');

    // The new version boots on the compacted data and migrates it: every node there, a pan per card.
    await bootCortex(lab, TO);
    expect(await storm(lab, 'return($lib.version.synapse())')).toEqual([2, 250, 0]);
    await waitFor(async () => ((await storm(lab, 'return($lib.view.get().getFormCounts())')) as Record<string, number>)['econ:pay:pan'] === CARDS, 'the model migration to make a pan per card', { timeoutMs: 120_000, intervalMs: 1000 });
    const upgraded = (await storm(lab, 'return($lib.view.get().getFormCounts())')) as Record<string, number>;
    expect(upgraded).toMatchObject({ 'econ:pay:card': CARDS, 'econ:pay:pan': CARDS });
    const fqdns = upgraded['inet:fqdn'];
    await stopCortex(lab);

    // undo-defrag (the rollback): the pre-defrag entries back; the old version boots on them, unmigrated, every node there
    const undo = parseVolumeJobLog<{ restored: string[] }>(String((await volumeJob(lab, 'undo-defrag', ['--run', RUN_ID], { backups: false })).stdout), 'undo-defrag', 'undo-defrag');
    expect(undo.restored.sort()).toEqual([...defrag.swapped].sort());
    expect(await dataBytes(lab)).toBe(before);
    await bootCortex(lab, FROM);
    expect(await storm(lab, 'return($lib.version.synapse())')).toEqual([2, 242, 0]);
    const back = (await storm(lab, 'return($lib.view.get().getFormCounts())')) as Record<string, number>;
    expect(back['econ:pay:card']).toBe(CARDS);
    expect(back['econ:pay:pan']).toBeUndefined();
    expect(back['inet:fqdn']).toBe(fqdns);
    await stopCortex(lab);
  }, 1_200_000);
});
