import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

const loopbackNames = [{ type: 2 as const, value: 'localhost' }, { type: 7 as const, ip: '127.0.0.1' }];

/** A self-signed certificate for localhost/127.0.0.1, like the one a Synapse cell makes for itself. */
export async function selfSignedCert(cn = 'localhost'): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: cn }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: loopbackNames }],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A CA, and a server certificate it issued for localhost/127.0.0.1. */
export async function caAndServerCert(): Promise<{ ca: Pem; server: Pem }> {
  const ca = await generate([{ name: 'commonName', value: 'synup test CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: loopbackNames },
    ],
  });
  return { ca: { cert: ca.cert, key: ca.private }, server: { cert: server.cert, key: server.private } };
}

export interface SeenRequest {
  url: string;
  method: string;
  authorization: string | undefined;
}

export interface TestServer {
  port: number;
  /** Requests that reached the handler (a refused certificate means none did). */
  requests: SeenRequest[];
  close(): Promise<void>;
}

export type Reply = { status?: number; body: string };

/** A loopback HTTPS server answering each request with `reply(request, n)` (n counts from 1). */
export async function startHttpsServer(pem: Pem, reply: (request: SeenRequest, n: number) => Reply): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server = https.createServer({ cert: pem.cert, key: pem.key }, (req, res) => {
    const seen = { url: req.url ?? '', method: req.method ?? '', authorization: req.headers.authorization };
    requests.push(seen);
    const answer = reply(seen, requests.length);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
