// An AHA deployment on the lab's real Synapse (SYN_LAB): an AHA server, a Cortex leader `00.cortex` and its mirror
// `01.cortex` provisioned through it (`synapse.tools.aha.provision.service`, `aha:provision:`), each its own process
// group. Loopback only, but for Synapse's HTTPS listener, which has no host setting (0.0.0.0).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { runCortexScript } from './helpers.js';
import { isActive, labPythonPath, until, type LabCortex } from './lab-cortex.js';

export interface AhaCortex extends LabCortex {
  /** Its AHA name without the network: 00.cortex, 01.cortex. */
  ahaName: string;
  /** Its dmon port (telepath, ssl:// with AHA's CA). */
  dmon: number;
}

/** Starts processes in their own process groups, logging to `<work>/<name>.log`; every group is recorded in `groups`. */
export function labSpawner(work: string, env: NodeJS.ProcessEnv, groups: number[]) {
  return (name: string, command: string, args: string[]): ChildProcess => {
    const fd = openSync(path.join(work, `${name}.log`), 'a');
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    groups.push(child.pid!);
    return child;
  };
}

export interface AhaServer {
  dir: string;
  /** Telepath URL of AHA from this host: its unix socket (root, no password). */
  url: string;
}

/** Writes AHA's cell.yaml (network `synapse`, services reached as ssl://localhost:<port>) and starts it. */
export function startAha(work: string, ports: { dmon: number; provision: number; https: number }, start: ReturnType<typeof labSpawner>): AhaServer {
  const dir = path.join(work, 'aha');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'cell.yaml'), stringify({
    'aha:network': 'synapse',
    'dns:name': 'localhost', // the AHA URLs handed to services: ssl://localhost:<port>, resolved to loopback without /etc/hosts entries
    'dmon:listen': `ssl://127.0.0.1:${ports.dmon}?hostname=localhost&ca=synapse`,
    'provision:listen': `ssl://127.0.0.1:${ports.provision}?hostname=localhost`,
    'https:port': ports.https,
  }));
  start('aha', '/usr/bin/python3', ['-m', 'synapse.servers.aha', dir]);
  return { dir, url: `cell://${dir}/` };
}

/**
 * Provisions a Cortex through AHA (`extra`: `['--mirror', 'cortex']` for a mirror of the leader alias `cortex`) and
 * writes its cell.yaml with the provisioning URL; its first boot provisions it (and a mirror clones its leader).
 * `env` runs Synapse's provisioning tool (PYTHONPATH of the lab).
 */
export async function provisionCortex(aha: AhaServer, work: string, cortex: AhaCortex, extra: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const yamlFile = path.join(work, `${cortex.ahaName}.provision.yaml`);
  writeFileSync(yamlFile, stringify({ 'dmon:listen': `ssl://127.0.0.1:${cortex.dmon}?hostname=${cortex.ahaName}.synapse&ca=synapse`, 'https:port': cortex.port }));
  const url = await until(`AHA to provision ${cortex.ahaName}`, 120_000, async () => {
    const r = await execa('/usr/bin/python3', ['-m', 'synapse.tools.aha.provision.service', '--url', aha.url, cortex.ahaName, ...extra, '--cellyaml', yamlFile, '--only-url'], { env, reject: false });
    return r.exitCode === 0 && r.stdout.trim().startsWith('ssl://') ? r.stdout.trim() : null;
  });
  mkdirSync(cortex.dir);
  writeFileSync(path.join(cortex.dir, 'cell.yaml'), stringify({ 'aha:provision': url, 'auth:passwd': 'secret' }));
}

/** Boots a Cortex of the lab at `version` on its cell dir (run-cortex.sh), logged as `<name>-first`. */
export const bootCortex = (lab: string, version: string, cortex: AhaCortex, name: string, start: ReturnType<typeof labSpawner>) => start(`${name}-first`, runCortexScript, [path.join(lab, `src-v${version}`), cortex.dir]);

export interface AhaPair {
  aha: AhaServer;
  leader: AhaCortex;
  mirror: AhaCortex;
  leaderProcess: ChildProcess;
  mirrorProcess: ChildProcess;
}

/**
 * AHA (at `ahaVersion`) with a leader `00.cortex` (cell dir `<work>/cortex00`) and its mirror `01.cortex`
 * (`<work>/cortex01`) at `version`, provisioned and booted; `seed` runs on the active leader before the mirror clones
 * it. Returns once the mirror answers as a passive mirror. Ports: base … base+6.
 */
export async function startAhaPair(options: { lab: string; work: string; base: number; version: string; ahaVersion: string; groups: number[]; env?: NodeJS.ProcessEnv; seed?: (leader: AhaCortex) => Promise<void> }): Promise<AhaPair> {
  const { lab, work, base } = options;
  const env = { ...process.env, ...options.env, PYTHONPATH: labPythonPath(lab, options.ahaVersion) };
  const start = labSpawner(work, env, options.groups);
  const aha = startAha(work, { dmon: base, provision: base + 1, https: base + 2 }, start);
  const leader: AhaCortex = { ahaName: '00.cortex', dir: path.join(work, 'cortex00'), port: base + 3, dmon: base + 4 };
  const mirror: AhaCortex = { ahaName: '01.cortex', dir: path.join(work, 'cortex01'), port: base + 5, dmon: base + 6 };
  await provisionCortex(aha, work, leader, [], env);
  const leaderProcess = bootCortex(lab, options.version, leader, 'cortex00', start);
  await until(`the ${options.version} leader to be active`, 180_000, async () => ((await isActive(leader)) ? true : null));
  await options.seed?.(leader);
  await provisionCortex(aha, work, mirror, ['--mirror', 'cortex'], env);
  const mirrorProcess = bootCortex(lab, options.version, mirror, 'cortex01', start); // provisions itself, then clones the leader through AHA
  await until('the mirror to answer as a passive mirror', 180_000, async () => ((await isActive(mirror)) === false ? true : null));
  return { aha, leader, mirror, leaderProcess, mirrorProcess };
}
