// sslcert.pem / sslkey.pem: a self-signed certificate made at first boot, as a Synapse cell makes one.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Generates the pair when either file is missing: ECDSA P-256, SHA-256, CN localhost, SAN localhost + 127.0.0.1,
 * valid for 10 years. A real Cell makes RSA (the real tier has those); P-256 is the same to synup, which pins the
 * cell's own cert, and costs ~9 ms of CPU against RSA 2048's 115–230 ms at every first boot the tests make.
 * The key is written first (mode 0600), the cert last: a cert on disk means a complete pair.
 * @param {string} dir
 * @returns {Promise<{ cert: string, key: string }>} the file paths
 */
export async function ensureCert(dir) {
  const cert = path.join(dir, 'sslcert.pem');
  const key = path.join(dir, 'sslkey.pem');
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  const notBeforeDate = new Date();
  const notAfterDate = new Date(notBeforeDate);
  notAfterDate.setFullYear(notAfterDate.getFullYear() + 10);
  // Loaded only to make a pair (~0.1 s of CPU at every boot otherwise): most boots find theirs on disk.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  writeFileSync(key, pems.private, { mode: 0o600 });
  writeFileSync(cert, pems.cert);
  return { cert, key };
}
