// The container lab of issue 20 (scripts/container-lab.sh): a real Docker engine, compose v2 and a registry with
// Synapse images. Tests that need it skip with the reason when it is not up, like the real-Cortex tests without SYN_LAB.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { repoRoot } from './helpers.js';

export interface ContainerLab {
  dir: string;
  dockerHost: string;
  /** A dir whose `docker` is Debian's CLI (another one may be first on PATH): first on the tests' PATH. */
  binDir: string;
  registry: string;
  versions: string[];
  /** Debian's systemd on the Synapse base with Node (empty when the lab predates it): run it as PID 1 (systemdRunArgs). */
  systemdImage: string;
  /** The Synapse base with Node and npm: the lab's NODE_IMAGE for synup's own Dockerfile (empty when absent). */
  nodeImage: string;
}

const labDir = process.env.SYNUP_CONTAINER_LAB ?? path.join(repoRoot, '.container-lab');

function readLab(): ContainerLab | string {
  const file = path.join(labDir, 'env');
  if (!existsSync(file)) return `no container lab at ${labDir}: run scripts/container-lab.sh (as root) first`;
  const env = Object.fromEntries(readFileSync(file, 'utf8').split('\n').filter((l) => /^\w+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const lab = { dir: labDir, dockerHost: env.DOCKER_HOST ?? '', binDir: env.SYNUP_LAB_DOCKER_BIN ?? '', registry: env.SYNUP_LAB_REGISTRY ?? '', versions: (env.SYNUP_LAB_VERSIONS ?? '').split(' ').filter(Boolean), systemdImage: env.SYNUP_LAB_SYSTEMD_IMAGE ?? '', nodeImage: env.SYNUP_LAB_NODE_IMAGE ?? '' };
  try {
    execFileSync(path.join(lab.binDir, 'docker'), ['version', '--format', '{{.Server.Version}}'], { env: { ...process.env, DOCKER_HOST: lab.dockerHost }, stdio: 'pipe', timeout: 10_000 });
  } catch (error) {
    return `the lab's Docker engine does not answer on ${lab.dockerHost} (${String((error as { stderr?: unknown }).stderr ?? error).trim().split('\n')[0]}): run scripts/container-lab.sh`;
  }
  try {
    execFileSync(path.join(lab.binDir, 'docker'), ['compose', 'version'], { stdio: 'pipe', timeout: 10_000 });
  } catch {
    return 'docker compose v2 is missing: run scripts/container-lab.sh';
  }
  try {
    execFileSync('curl', ['-fsS', '-m', '5', `http://${lab.registry}/v2/vertexproject/synapse-cortex/tags/list`], { stdio: 'pipe', timeout: 10_000 });
  } catch {
    return `the lab's registry on ${lab.registry} does not answer or has no synapse-cortex image: run scripts/container-lab.sh`;
  }
  return lab;
}

const found = readLab();
export const containerLab: ContainerLab | null = typeof found === 'string' ? null : found;
/** Why the container tests cannot run here, or null. */
export const containerLabSkipReason: string | null = typeof found === 'string' ? found : null;

/** The environment for docker, compose and synup: the lab's engine, Debian's CLI first on PATH. */
export function labEnv(lab: ContainerLab): Record<string, string> {
  return { PATH: `${lab.binDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, DOCKER_HOST: lab.dockerHost, HOME: process.env.HOME ?? '/root', CI: 'true', NO_COLOR: '1' };
}

/** `docker …` on the lab's engine (never throws; the result says). */
export function docker(lab: ContainerLab, args: string[], options: { cwd?: string; timeoutMs?: number; stripFinalNewline?: boolean } = {}) {
  return execa(path.join(lab.binDir, 'docker'), args, { env: labEnv(lab), extendEnv: false, cwd: options.cwd, reject: false, stdin: 'ignore', timeout: options.timeoutMs ?? 120_000, stripFinalNewline: options.stripFinalNewline ?? true });
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const cortexImage = (lab: ContainerLab, version: string) => `${lab.registry}/vertexproject/synapse-cortex:v${version}`;

/** Why a test needing this lab image cannot run, or null (the lab is up but older than the image). */
export function labImageSkipReason(which: 'systemdImage' | 'nodeImage'): string | null {
  if (!containerLab) return containerLabSkipReason;
  if (!containerLab[which]) return `the container lab has no ${which === 'systemdImage' ? 'systemd' : 'Node base'} image yet: run scripts/container-lab.sh up`;
  try {
    execFileSync(path.join(containerLab.binDir, 'docker'), ['image', 'inspect', containerLab[which]], { env: { ...process.env, DOCKER_HOST: containerLab.dockerHost }, stdio: 'pipe', timeout: 10_000 });
  } catch {
    return `the lab's image ${containerLab[which]} is missing: run scripts/container-lab.sh up`;
  }
  return null;
}

/**
 * `docker run` arguments that boot the lab's systemd image with systemd as PID 1 (issue 20): privileged, the host's
 * cgroup hierarchy, /run and /run/lock on tmpfs.
 */
export const systemdRunArgs = ['--privileged', '--cgroupns=host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw', '--tmpfs', '/run', '--tmpfs', '/run/lock'];
