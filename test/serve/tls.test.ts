// `colloquy serve --tls-cert F --tls-key F`: the page and API over https, sessions over wss://
// on the same port and over tls:// on the native port; nothing in clear text.

import { writeFileSync, mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/apps/service.js';
import { connect } from '../../src/client/connect.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { testCertificate } from '../support/tls-cert.js';

const dec = new TextDecoder();

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('colloquy serve with TLS', () => {
  let node: ServeNode;
  const { cert, key } = testCertificate();
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'colloquy-serve-tls-'));
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    node = await startServe(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
  }, 90_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('announces https, wss and tls URLs and answers over them', async () => {
    expect(node.http).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    expect(node.ws).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/session$/);
    expect(node.tcp).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(new URL('/api/health', node.http).toString(), cert)).toEqual({
      status: 200,
      body: '{"ok":true,"sessions":0}',
    });
    for (const url of [node.ws, node.tcp]) {
      const s = await connect(url, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0, tls: { ca: cert } });
      await s.send(`secret over ${url}`);
      const r = await s[Symbol.asyncIterator]().next();
      expect(dec.decode(r.value as Uint8Array)).toBe(`secret over ${url}`);
      await s.release();
    }
  }, 30_000);

  it('refuses a client that does not trust the certificate', async () => {
    await expect(
      connect(node.tcp, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0, reconnect: false }),
    ).rejects.toMatchObject({ code: 'ERR_CONNECT_FAILED' });
  }, 30_000);
});
