// A real Cortex deployment (the lab's upstream Synapse): a 2.242.0 leader and its mirror, made from a backup of the
// leader with `mirror: tcp://root:…@127.0.0.1:<leader dmon port>/`, upgraded to 2.250.0 by `synup deploy upgrade`
// with promotion while a client writes nodes; every acknowledged write is on the new leader afterwards. Without AHA
// the graceful hand-off is impossible (`NeedConfValu: aha:name`), so the deployment uses mirror.promotion: failure
// (the leader stopped, then `synapse.tools.service.promote --failure`). One lean test: five Cortex boots.
// SYN_LAB: the lab dir (setup.sh); run-cortex.sh: helpers.runCortexScript.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCortexScript, synup, tempDir } from './helpers.js';

const LAB = process.env.SYN_LAB;
const RUN = runCortexScript;
const skipReason = !LAB ? 'set SYN_LAB to a directory prepared by ../shared/synapse-lab/setup.sh' : !existsSync(path.join(LAB, '.ok')) ? `${LAB} is not set up (no .ok): run ../shared/synapse-lab/setup.sh "$SYN_LAB"` : !existsSync(RUN) ? `${RUN} is missing (set SYN_LAB_RUN_CORTEX)` : null;
if (skipReason) console.warn(`real-Cortex deployment test skipped: ${skipReason}`);

const NEXUS_INDEX = `import asyncio, sys
import synapse.telepath as s_telepath
async def main():
    async with await s_telepath.openurl(sys.argv[1]) as cell:
        print(await cell.getNexsIndx())
asyncio.run(main())`;

/** Live members of a process group, from /proc. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[2]) === pgid && fields[0] !== 'Z';
    } catch {
      return false;
    }
  }).map(Number);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** HTTPS to a Cortex of the lab: its own certificate pinned by content (its name is `cortex`, not 127.0.0.1). */
function api(dir: string, port: number, method: 'GET' | 'POST', route: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; text: string }> {
  const cert = readFileSync(path.join(dir, 'sslcert.pem'));
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: route, method, ca: cert, checkServerIdentity: () => undefined, auth: 'root:secret', timeout: timeoutMs, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`${route}: no answer`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const active = async (dir: string, port: number) => JSON.parse((await api(dir, port, 'GET', '/api/v1/active', undefined, 5000)).text).result.active as boolean;
/** One node written through Storm; true once the Cortex acknowledged it. */
const writeNode = async (dir: string, port: number, name: string) => {
  const r = await api(dir, port, 'POST', '/api/v1/storm/call', { query: '[inet:fqdn=$n] return($node.repr())', opts: { vars: { n: name } } }, 10_000).catch(() => null);
  return r?.status === 200 && JSON.parse(r.text).status === 'ok';
};
/** Concatenated JSON texts (how /api/v1/storm streams its messages, without separators) → the values. */
function jsonTexts(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let start = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++ === 0 && (start = i);
    else if ((c === ']' || c === '}') && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
  }
  return values;
}

/** Every inet:fqdn under deploy.example.com on that Cortex (Storm messages streamed by /api/v1/storm). */
async function deployNodes(dir: string, port: number): Promise<string[]> {
  const r = await api(dir, port, 'POST', '/api/v1/storm', { query: 'inet:fqdn:domain=deploy.example.com' });
  const messages = jsonTexts(r.text) as [string, unknown][];
  const err = messages.find((m) => m[0] === 'err');
  if (err) throw new Error(`storm on port ${port}: ${JSON.stringify(err[1]).slice(0, 300)}`);
  return messages.filter((m) => m[0] === 'node').map((m) => (m[1] as [[string, string]])[0][1]).sort();
}

describe.skipIf(skipReason !== null)('real Cortex deployment: a leader and its mirror, 2.242.0 → 2.250.0 with promotion', () => {
  const groups: number[] = [];
  afterAll(async () => {
    for (const pgid of groups) for (const pid of groupMembers(pgid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });

  it('upgrades the mirror, promotes it, upgrades the old leader as its mirror; writes made meanwhile are all on the new leader', async () => {
    const lab = LAB!;
    const work = tempDir('synup-real-deploy-');
    const base = 28300 + Math.floor(Math.random() * 150) * 4;
    const ports = { cortex00: { https: base, dmon: base + 2 }, cortex01: { https: base + 1, dmon: base + 3 } };
    const dirs = { cortex00: path.join(work, 'cortex00'), cortex01: path.join(work, 'cortex01') };
    const pythonPath = ['pylib', 'pylib-legacy', 'stubs', 'src-v2.250.0'].map((d) => path.join(lab, d)).join(':');
    const cellYaml = (name: 'cortex00' | 'cortex01', extra = '') => `https:port: ${ports[name].https}\nauth:passwd: secret\ndmon:listen: tcp://127.0.0.1:${ports[name].dmon}/\n${extra}`;
    for (const name of ['cortex00', 'cortex01'] as const) {
      writeFileSync(
        path.join(work, `${name}.yaml`),
        stringify({
          cell: { name, dir: `./${name}`, role: name === 'cortex01' ? 'mirror' : 'leader' },
          state: { dir: './state' },
          changelog: path.join(lab, 'src-v2.250.0', 'CHANGELOG.rst'),
          backup: { dir: `./backups/${name}`, maxAge: '1h' },
          service: { adapter: 'process', stopTimeout: '30s', process: { command: [RUN, `${lab}/src-v{version}`, '{dir}'] } },
          health: { port: ports[name].https, startTimeout: '150s' },
        }),
      );
    }
    const run = (args: string[]) => synup(args, { cwd: work, env: { CI: 'true', PATH: process.env.PATH ?? '' }, timeout: 900_000 });

    // The leader's first boot at 2.242.0, by hand, with a few nodes; then stopped with its group.
    mkdirSync(dirs.cortex00);
    writeFileSync(path.join(dirs.cortex00, 'cell.yaml'), cellYaml('cortex00'));
    const fd = openSync(path.join(work, 'first-boot.log'), 'a');
    const first = spawn(RUN, [path.join(lab, 'src-v2.242.0'), dirs.cortex00], { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    groups.push(first.pid!);
    await until('the 2.242.0 leader to be active', 180_000, async () => ((await active(dirs.cortex00, ports.cortex00.https)) ? true : null));
    for (let i = 0; i < 5; i++) expect(await writeNode(dirs.cortex00, ports.cortex00.https, `seed${i}.deploy.example.com`)).toBe(true);
    process.kill(-first.pid!, 'SIGTERM');
    await until('the first boot to be gone', 30_000, async () => (groupMembers(first.pid!).length === 0 ? true : null));

    // The mirror: a backup of the stopped leader, restored, following the leader's telepath URL.
    const backup = await run(['-c', 'cortex00.yaml', 'backup', '--cold', '--json']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    const backupDir = JSON.parse(backup.stdout.trim().split('\n').at(-1)!).dir as string;
    expect((await run(['restore', backupDir, dirs.cortex01])).exitCode).toBe(0);
    writeFileSync(path.join(dirs.cortex01, 'cell.yaml'), cellYaml('cortex01', `mirror: tcp://root:secret@127.0.0.1:${ports.cortex00.dmon}/\n`));
    for (const name of ['cortex00', 'cortex01']) {
      const started = await run(['-c', `${name}.yaml`, 'start', '--json']);
      expect(started.exitCode, started.stderr).toBe(0);
      groups.push(JSON.parse(started.stdout).pid);
    }
    expect(await active(dirs.cortex01, ports.cortex01.https)).toBe(false);
    await until('the mirror to have the seed nodes', 60_000, async () => ((await deployNodes(dirs.cortex01, ports.cortex01.https)).length === 5 ? true : null));

    writeFileSync(
      path.join(work, 'deployment.yaml'),
      stringify({
        name: 'lab',
        state: { dir: './state' },
        mirror: {
          nexusIndex: ['/usr/bin/python3', '-c', NEXUS_INDEX, 'cell://{dir}/'],
          promote: ['/usr/bin/python3', '-m', 'synapse.tools.service.promote', '--svcurl', 'cell://{dir}/', '--failure'],
          promotion: 'failure',
          env: { PYTHONPATH: pythonPath },
          catchUpTimeout: '120s',
        },
        services: [
          { name: 'cortex00', kind: 'cortex', config: 'cortex00.yaml', url: `tcp://root:secret@127.0.0.1:${ports.cortex00.dmon}/` },
          { name: 'cortex01', kind: 'cortex', config: 'cortex01.yaml', mirrorOf: 'cortex00', url: `tcp://root:secret@127.0.0.1:${ports.cortex01.dmon}/` },
        ],
      }),
    );
    const plan = await run(['deploy', 'plan', '--to', '2.250.0', '--json']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect(JSON.parse(plan.stdout).services.map((s: { name: string; migrations: unknown[] }) => [s.name, s.migrations.length > 0])).toEqual([['cortex01', true], ['cortex00', true]]);

    // A client writing a node every 300 ms to whichever Cortex leads, throughout the deployment.
    const acked: { name: string; at: number }[] = [];
    let failed = 0;
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const tick = Date.now();
        const name = `w${i}.deploy.example.com`;
        const ok = (await writeNode(dirs.cortex00, ports.cortex00.https, name)) || (await writeNode(dirs.cortex01, ports.cortex01.https, name));
        if (ok) acked.push({ name, at: Date.now() });
        else failed++;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 300 - (Date.now() - tick))));
      }
    })();
    const deployed = await run(['deploy', 'upgrade', '--to', '2.250.0', '--backup', '-y']);
    writing = false;
    await writer;
    expect(deployed.exitCode, deployed.stderr.slice(-4000)).toBe(0);
    for (const pid of [...deployed.stderr.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))) groups.push(pid);
    const status = JSON.parse((await run(['deploy', 'status', '--json'])).stdout);
    for (const s of status.services) if (s.pid) groups.push(s.pid);
    expect(status.services).toEqual([
      { name: 'cortex00', version: '2.250.0', role: 'mirror of cortex01' },
      { name: 'cortex01', version: '2.250.0', role: 'leader' },
    ]);
    expect(await active(dirs.cortex01, ports.cortex01.https)).toBe(true);
    expect(await active(dirs.cortex00, ports.cortex00.https)).toBe(false);
    const onLeader = await deployNodes(dirs.cortex01, ports.cortex01.https);
    const missing = acked.map((a) => a.name).filter((n) => !onLeader.includes(n));
    expect(missing).toEqual([]);
    let gap = 0;
    for (let i = 1; i < acked.length; i++) gap = Math.max(gap, acked[i]!.at - acked[i - 1]!.at);
    const promotion = /\[deploy\/promote:cortex01\] done: (.*)/.exec(deployed.stderr)?.[1];
    expect(promotion).toMatch(/migration step\(s\) ran on the new leader and finished/);
    await until('the old leader to replicate every write', 60_000, async () => ((await deployNodes(dirs.cortex00, ports.cortex00.https)).length === onLeader.length ? true : null));
    console.log(`real Cortex deployment 2.242.0 → 2.250.0: ${acked.length} writes acknowledged (all on the new leader and its mirror), ${failed} failed, longest gap ${gap} ms; promotion: ${promotion}`);

    for (const name of ['cortex00', 'cortex01']) expect((await run(['-c', `${name}.yaml`, 'stop'])).exitCode).toBe(0);
  }, 900_000);
});
