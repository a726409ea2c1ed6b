import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SynupError } from '../../src/errors.js';
import { checkActive, readServiceVersion, waitForActive } from '../../src/health/index.js';
import { caAndServerCert, selfSignedCert, startHttpsServer, type Pem, type TestServer } from '../fakes/https.js';
import { tempDir } from '../support/helpers.js';

const PY_STYLE = '{"status": "ok", "result": {"active": true}}';
const COMPACT = '{"status":"ok","result":{"active":true}}';

let cellCert: Pem;
let foreignCert: Pem;
let issued: Awaited<ReturnType<typeof caAndServerCert>>;
const servers: TestServer[] = [];

beforeAll(async () => {
  [cellCert, foreignCert, issued] = await Promise.all([selfSignedCert(), selfSignedCert('someone-else'), caAndServerCert()]);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(pem: Pem, reply: Parameters<typeof startHttpsServer>[1]): Promise<TestServer> {
  const server = await startHttpsServer(pem, reply);
  servers.push(server);
  return server;
}

/** A cell dir holding `pem`'s certificate as its own sslcert.pem. */
function cellDirWith(pem: Pem): string {
  const dir = tempDir('synup-health-');
  writeFileSync(path.join(dir, 'sslcert.pem'), pem.cert);
  return dir;
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function refusal(promise: Promise<unknown>): Promise<SynupError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SynupError);
  return error as SynupError;
}

describe('checkActive: the cell\'s own certificate, pinned', () => {
  it.each([
    ['Python spacing (2.180)', PY_STYLE],
    ['compact (newer)', COMPACT],
  ])('is active with a %s body', async (_name, body) => {
    const server = await serve(cellCert, () => ({ body }));
    const check = await checkActive({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert) });
    expect(check).toEqual({ active: true, detail: 'active', url: `https://127.0.0.1:${server.port}/api/v1/active` });
  });

  it('ignores the hostname: a pin is about the certificate, not the name in it', async () => {
    const odd = await selfSignedCert('not-this-host.example');
    const server = await serve(odd, () => ({ body: COMPACT }));
    expect((await checkActive({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(odd) })).active).toBe(true);
  });

  it('refuses a different certificate on the port and sends nothing to it', async () => {
    const server = await serve(foreignCert, () => ({ body: COMPACT }));
    const error = await refusal(checkActive({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert) }));
    expect(error.code).toBe('refused');
    expect(error.exitCode).toBe(3);
    expect(error.message).toContain('presents a different certificate than the cell\'s own');
    expect(error.message).toContain('sslcert.pem');
    expect(error.hint).toMatch(/health\.port/);
    expect(server.requests).toHaveLength(0);
  });

  it('waitForActive gives up at once on a foreign certificate instead of polling until the deadline', async () => {
    const server = await serve(foreignCert, () => ({ body: COMPACT }));
    const error = await refusal(waitForActive({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert), deadlineMs: 600_000 }));
    expect(error.code).toBe('refused');
  });

  it('is not active (with the reason) while the cell has no sslcert.pem yet', async () => {
    const server = await serve(cellCert, () => ({ body: COMPACT }));
    const check = await checkActive({ host: '127.0.0.1', port: server.port, cellDir: tempDir() });
    expect(check.active).toBe(false);
    expect(check.detail).toMatch(/sslcert\.pem does not exist \(yet\)/);
  });

  it('is not active when nothing listens', async () => {
    const check = await checkActive({ host: '127.0.0.1', port: await closedPort(), cellDir: cellDirWith(cellCert) });
    expect(check).toMatchObject({ active: false, detail: expect.stringContaining('ECONNREFUSED') });
  });

  it.each([
    ['a passive cell (mirror)', { body: '{"status": "ok", "result": {"active": false}}' }, /not active \(passive/],
    ['HTTP 503', { status: 503, body: '{}' }, /HTTP 503/],
    ['a body that is not JSON', { body: '<html>active: true</html>' }, /not a JSON object/],
    ['an error status', { body: '{"status": "err", "code": "Nope"}' }, /status "err"/],
    ['no result.active', { body: '{"status": "ok", "result": {}}' }, /no result\.active/],
  ])('is not active for %s', async (_name, reply, detail) => {
    const server = await serve(cellCert, () => reply);
    const check = await checkActive({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert) });
    expect(check.active).toBe(false);
    expect(check.detail).toMatch(detail);
  });

  it('reports an unreadable pinned certificate clearly', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'sslcert.pem'), 'not a certificate');
    const server = await serve(cellCert, () => ({ body: COMPACT }));
    const error = await refusal(checkActive({ host: '127.0.0.1', port: server.port, cellDir: dir }));
    expect(error.message).toMatch(/sslcert\.pem is not a PEM certificate/);
  });
});

describe('checkActive: CA and insecure modes', () => {
  it('validates against health.ca (chain and hostname)', async () => {
    const server = await serve(issued.server, () => ({ body: PY_STYLE }));
    const dir = tempDir();
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, issued.ca.cert);
    expect((await checkActive({ host: '127.0.0.1', port: server.port, cellDir: dir, ca })).active).toBe(true);
    expect((await checkActive({ host: 'localhost', port: server.port, cellDir: dir, ca })).active).toBe(true);
  });

  it('refuses a certificate the CA did not issue, naming the CA file', async () => {
    const server = await serve(foreignCert, () => ({ body: COMPACT }));
    const dir = tempDir();
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, issued.ca.cert);
    const error = await refusal(checkActive({ host: '127.0.0.1', port: server.port, cellDir: dir, ca }));
    expect(error.code).toBe('refused');
    expect(error.message).toContain(`that ${ca} does not validate`);
    expect(server.requests).toHaveLength(0);
  });

  it('a missing CA file is a usage error', async () => {
    const server = await serve(issued.server, () => ({ body: COMPACT }));
    const error = await refusal(checkActive({ host: '127.0.0.1', port: server.port, cellDir: tempDir(), ca: '/nonexistent/ca.pem' }));
    expect(error.code).toBe('usage');
    expect(error.message).toContain('cannot read the CA file /nonexistent/ca.pem: ENOENT');
  });

  it('insecure trusts any certificate, but only when asked', async () => {
    const server = await serve(foreignCert, () => ({ body: COMPACT }));
    expect((await checkActive({ host: '127.0.0.1', port: server.port, cellDir: tempDir(), insecure: true })).active).toBe(true);
  });
});

describe('waitForActive', () => {
  it('polls until the cell becomes active', async () => {
    const server = await serve(cellCert, (_req, n) => ({ body: n < 3 ? '{"status": "ok", "result": {"active": false}}' : COMPACT }));
    const seen: string[] = [];
    const result = await waitForActive({
      host: '127.0.0.1',
      port: server.port,
      cellDir: cellDirWith(cellCert),
      deadlineMs: 60_000,
      initialDelayMs: 10,
      onAttempt: (check) => seen.push(check.detail),
    });
    expect(result.active).toBe(true);
    expect(result.attempts).toBe(3);
    expect(seen).toEqual([expect.stringMatching(/passive/), expect.stringMatching(/passive/), 'active']);
  });

  it('fails at the deadline with the last reason', async () => {
    const port = await closedPort();
    const error = await refusal(waitForActive({ host: '127.0.0.1', port, cellDir: cellDirWith(cellCert), deadlineMs: 300, initialDelayMs: 20 }));
    expect(error.code).toBe('failed');
    expect(error.message).toMatch(new RegExp(`https://127.0.0.1:${port}/api/v1/active did not report active within 300 ms \\(\\d+ attempts?; last: .*ECONNREFUSED\\)`));
  });

  it('stops when its signal aborts', async () => {
    const server = await serve(cellCert, () => ({ body: '{"status": "ok", "result": {"active": false}}' }));
    const controller = new AbortController();
    const waiting = waitForActive({
      host: '127.0.0.1',
      port: server.port,
      cellDir: cellDirWith(cellCert),
      deadlineMs: 600_000,
      initialDelayMs: 10,
      onAttempt: (_check, attempt) => attempt === 2 && controller.abort(),
      signal: controller.signal,
    });
    const error = await refusal(waiting);
    expect(error.message).toMatch(/stopped waiting for .* cancelled \(last: answers but is not active/);
  });
});

describe('readServiceVersion', () => {
  it('asks a Storm call ($lib.version.synapse(), cheap whatever the model size) and reads its tuple as a dotted version', async () => {
    const server = await serve(cellCert, (req) => ({ body: req.url === '/api/v1/storm/call' && req.method === 'POST' ? '{"status": "ok", "result": [2, 181, 0]}' : '{}' }));
    expect(await readServiceVersion({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert) })).toBe('2.181.0');
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/v1/storm/call']);
  });

  it('sends basic auth when a password is configured (user root unless health.username says otherwise), and null when the service wants credentials', async () => {
    const expected = 'Basic ' + Buffer.from('root:s3cret-pw').toString('base64');
    const server = await serve(cellCert, (req) =>
      req.authorization === expected ? { body: '{"status":"ok","result":[2,250,0]}' } : { status: 401, body: '{"status": "err", "code": "NotAuthenticated"}' },
    );
    const target = { host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert) };
    expect(await readServiceVersion({ ...target, username: 'root', password: 's3cret-pw' })).toBe('2.250.0');
    expect(await readServiceVersion({ ...target, password: 's3cret-pw' })).toBe('2.250.0');
    expect(await readServiceVersion({ ...target, username: 'admin', password: 's3cret-pw' })).toBeNull();
    expect(await readServiceVersion(target)).toBeNull();
    expect(await readServiceVersion({ ...target, username: 'root', password: 'wrong' })).toBeNull();
  });

  it('never sends the password to a foreign certificate, and never echoes it', async () => {
    const server = await serve(foreignCert, () => ({ body: '{}' }));
    const error = await refusal(readServiceVersion({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert), username: 'root', password: 's3cret-pw' }));
    expect(error.code).toBe('refused');
    expect(server.requests).toHaveLength(0);
    expect(JSON.stringify({ message: error.message, hint: error.hint, details: error.details })).not.toContain('s3cret');
  });

  it('fails clearly on an answer without a version', async () => {
    const server = await serve(cellCert, () => ({ status: 500, body: '{"status": "err", "code": "SynErr"}' }));
    const error = await refusal(readServiceVersion({ host: '127.0.0.1', port: server.port, cellDir: cellDirWith(cellCert), username: 'root', password: 's3cret-pw' }));
    expect(error.message).toMatch(/answered HTTP 500 without a version/);
    expect(error.message).not.toContain('s3cret');
  });

  it('fails clearly when nothing listens', async () => {
    const error = await refusal(readServiceVersion({ host: '127.0.0.1', port: await closedPort(), cellDir: cellDirWith(cellCert) }));
    expect(error.message).toMatch(/cannot read the service version: .*ECONNREFUSED/);
  });
});
