import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { SynupError } from '../errors.js';

/** Where a cell's HTTPS API listens and which certificate to trust (health.* in synup.yaml). */
export interface HealthTarget {
  host: string;
  port: number;
  /** The cell's storage dir: its own `sslcert.pem` is the pinned certificate by default. */
  cellDir: string;
  /** PEM CA file: normal CA validation (chain + hostname) instead of the pin. */
  ca?: string;
  /** Trust any certificate. Only when the operator asked for it explicitly. */
  insecure?: boolean;
}

/** How the peer's certificate is judged: one mode, decided by `trustFor`. */
export type Trust = { mode: 'pinned'; certFile: string } | { mode: 'ca'; caFile: string } | { mode: 'insecure' };

export function trustFor(target: HealthTarget): Trust {
  if (target.insecure) return { mode: 'insecure' };
  if (target.ca) return { mode: 'ca', caFile: target.ca };
  return { mode: 'pinned', certFile: path.join(target.cellDir, 'sslcert.pem') };
}

export function describeTrust(trust: Trust): string {
  if (trust.mode === 'pinned') return `pinned to ${trust.certFile}`;
  if (trust.mode === 'ca') return `validated against CA ${trust.caFile}`;
  return 'not verified (insecure)';
}

export const baseUrl = (target: Pick<HealthTarget, 'host' | 'port'>) =>
  `https://${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;

/** The service is not reachable (yet): connection refused, reset, timed out, no pinned cert yet. Worth retrying. */
export class Unreachable extends Error {
  override name = 'Unreachable';
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && what === 'pinned certificate') {
      throw new Unreachable(`${file} does not exist (yet): the cell writes it at its first boot`);
    }
    throw new SynupError('usage', `cannot read the ${what} ${file}: ${code ?? String(error)}`, {
      hint: what === 'CA file' ? 'fix health.ca in synup.yaml' : 'check the cell dir',
    });
  }
}

function fingerprintOf(pem: string, file: string): string {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch (error) {
    throw new SynupError('failed', `${file} is not a PEM certificate: ${(error as Error).message}`);
  }
}

/** Checks the peer's certificate against the trust mode; throws a refusal (never retried) on a mismatch. */
function judgePeer(socket: TLSSocket, trust: Trust, url: string, pinned: string | null): void {
  if (trust.mode === 'insecure') return;
  if (trust.mode === 'ca') {
    if (socket.authorized) return;
    throw new SynupError('refused', `${url} presents a certificate that ${trust.caFile} does not validate (${String(socket.authorizationError)})`, {
      hint: 'point health.ca at the CA that issued the service certificate, or check health.host/health.port',
    });
  }
  const peer = socket.getPeerX509Certificate();
  if (peer && peer.fingerprint256 === pinned) return;
  throw new SynupError('refused', `${url} presents a different certificate than the cell's own ${trust.certFile}: refusing to trust it`, {
    hint: 'another service may be listening on health.port; check health.host/health.port, or set health.ca if the cell uses a CA-issued certificate',
    details: { expectedSha256: pinned, presentedSha256: peer?.fingerprint256 ?? null },
  });
}

/**
 * A TLS connection whose peer certificate has been judged *before* anything is sent on it (so credentials never
 * reach a foreign service). Network failures are `Unreachable`; an untrusted certificate is a `refused` SynupError.
 */
export async function connectTrusted(target: HealthTarget, signal: AbortSignal): Promise<TLSSocket> {
  const trust = trustFor(target);
  const url = baseUrl(target);
  const pinned = trust.mode === 'pinned' ? fingerprintOf(await readPem(trust.certFile, 'pinned certificate'), trust.certFile) : null;
  const ca = trust.mode === 'ca' ? await readPem(trust.caFile, 'CA file') : undefined;
  if (signal.aborted) throw new Unreachable(`${url}: no answer in time`);
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      servername: isIP(target.host) ? undefined : target.host,
      ca,
      // The peer is judged below, per trust mode, before the socket is handed out.
      rejectUnauthorized: false,
    });
    const onAbort = () => fail(new Unreachable(`${url}: no answer in time`));
    const fail = (error: Error) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (error: NodeJS.ErrnoException) => fail(new Unreachable(`${url}: ${error.code ?? error.message}`)));
    socket.once('secureConnect', () => {
      try {
        judgePeer(socket, trust, url, pinned);
      } catch (error) {
        fail(error as Error);
        return;
      }
      signal.removeEventListener('abort', onAbort);
      resolve(socket);
    });
  });
}
