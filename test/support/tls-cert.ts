// A throwaway self-signed certificate for 127.0.0.1/localhost, made with openssl at test time
// (tests only; nothing here is committed key material).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let cached: { cert: Buffer; key: Buffer } | undefined;

export function testCertificate(): { cert: Buffer; key: Buffer } {
  cached ??= newCertificate();
  return cached;
}

/** Another certificate for the same names, never the cached one (certificate rotation tests). */
export function newCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-tls-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'ignore', timeout: 20_000 },
  );
  return { cert: readFileSync(cert), key: readFileSync(key) };
}
