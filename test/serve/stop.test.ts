// `colloquy serve` stops on time, drains for a handover, and rotates its certificate (a real
// process each time; docs/operations.md).
//
//   - 200 sessions whose clients never answer (their connections frozen at a forwarder, as
//     behind a NAT that dropped its mapping): SIGTERM ends serve within --stop-timeout plus a
//     second, and its report accounts for every session;
//   - readiness: GET /api/ready is 200 while accepting; POST /api/admin/drain is for the admin
//     token only and, without a shared store, refused (nothing could continue elsewhere);
//   - drain on a shared store (Redis): two nodes, a client on the first; the drain hands the
//     session over (ready turns 503), the client resumes on the second node with no error and
//     no release, and the first node's later SIGTERM has nothing left to do;
//   - certificate rotation: after SIGHUP a new connection sees the new certificate, a session
//     opened before goes on over the old one.

import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/apps/service.js';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { startServe } from '../support/serve.js';
import { newCertificate, testCertificate } from '../support/tls-cert.js';
import { forwarder } from '../support/forwarder.js';

const dec = new TextDecoder();
const echoHello = encodeHello({ service: 'echo' });
const portOf = (url: string): number => Number(new URL(url.replace(/^(tcp|tls):/, 'http:')).port);

async function nextText(s: ClientSession): Promise<string> {
  const r = await s[Symbol.asyncIterator]().next();
  if (r.done) throw new Error('the session ended');
  return dec.decode(r.value);
}

describe('colloquy serve stops within its deadline', () => {
  it('200 sessions whose clients never answer: SIGTERM ends serve within --stop-timeout + 1 s, every session accounted for', async () => {
    const node = await startServe(['--stop-timeout', '2000']);
    const lb = await forwarder(() => portOf(node.tcp));
    const clients: ClientSession[] = [];
    try {
      for (let i = 0; i < 200; i++)
        clients.push(
          await connect(`tcp://127.0.0.1:${lb.port}`, { userData: echoHello, heartbeatMs: 0, reconnect: false }),
        );
      const health = (await (await fetch(new URL('/api/health', node.http))).json()) as { sessions: number };
      expect(health.sessions).toBe(200);
      lb.freeze();
      const started = performance.now();
      const code = await node.stop();
      const took = performance.now() - started;
      expect(code).toBe(0);
      expect(took).toBeLessThan(2000 + 1000);
      const stopped = await node.event('stopped');
      expect(stopped).toMatchObject({ mode: 'release', released: 0, handedOver: 0, aborted: 200 });
    } finally {
      for (const c of clients) c.abort();
      await lb.close();
    }
  }, 120_000);

  it('answers /api/ready while accepting; the drain is for the admin only and needs a shared store', async () => {
    const node = await startServe();
    try {
      const ready = await fetch(new URL('/api/ready', node.http));
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ready: true });
      const drain = (headers: Record<string, string> = {}, method = 'POST'): Promise<Response> =>
        fetch(new URL('/api/admin/drain', node.http), { method, headers });
      expect((await drain()).status).toBe(401);
      expect((await drain({ authorization: 'Bearer not-the-admin-token-at-all' })).status).toBe(401);
      expect((await drain({ authorization: `Bearer ${node.adminToken}` }, 'GET')).status).toBe(405);
      const refused = await drain({ authorization: `Bearer ${node.adminToken}` });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { error: string }).error).toMatch(/no shared store/);
      expect((await fetch(new URL('/api/ready', node.http))).status).toBe(200);
    } finally {
      await node.stop();
    }
  }, 90_000);
});

const noRedis = skipWithout('redis-server', 'serve drain (handover) test', 'apt-get install redis-server');

describe.skipIf(noRedis)('colloquy serve drains to another node sharing the store', () => {
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.stop();
  });

  it('POST /api/admin/drain hands the session over: ready turns 503, the client resumes on the other node, nothing released', async () => {
    redis = await startRedis();
    const [a, b] = await Promise.all([startServe(['--store', redis.url]), startServe(['--store', redis.url])]);
    let target = portOf(a.tcp);
    const lb = await forwarder(() => target);
    try {
      const s = await connect(`tcp://127.0.0.1:${lb.port}`, {
        userData: echoHello,
        heartbeatMs: 0,
        reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      });
      let problems = 0;
      s.on('closed', ({ error }) => {
        if (error) problems++;
      });
      s.on('resume-failed', () => {
        problems++;
      });
      await s.send('one');
      expect(await nextText(s)).toBe('one');
      const resumed = new Promise<void>((resolve) => s.on('resumed', () => resolve()));
      target = portOf(b.tcp); // the balancer's view once the node says it is not ready

      const drained = await fetch(new URL('/api/admin/drain', a.http), {
        method: 'POST',
        headers: { authorization: `Bearer ${a.adminToken}` },
      });
      expect(drained.status).toBe(200);
      expect(await drained.json()).toMatchObject({ mode: 'handover', handedOver: 1, released: 0, aborted: 0 });
      const ready = await fetch(new URL('/api/ready', a.http));
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false });
      expect((await a.event('closed')).error).toMatch(/^ERR_HANDED_OVER/);

      await resumed;
      await s.send('two');
      expect(await nextText(s)).toBe('two');
      const restored = await b.event('session');
      expect(restored).toMatchObject({ id: s.id, restored: true });
      expect(problems).toBe(0);

      // The stop after the drain has nothing left: it reports the drain.
      expect(await a.stop()).toBe(0);
      expect(await a.event('stopped')).toMatchObject({ mode: 'handover', handedOver: 1, released: 0, aborted: 0 });
      await s.release();
      expect(problems).toBe(0);
    } finally {
      await lb.close();
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 120_000);
});

describe('colloquy serve rotates its certificate on SIGHUP', () => {
  it('a client connecting after SIGHUP sees the new certificate; a session opened before goes on', async () => {
    const first = testCertificate();
    const second = newCertificate();
    const dir = mkdtempSync(join(tmpdir(), 'colloquy-rotate-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, first.cert);
    writeFileSync(keyFile, first.key);
    const node = await startServe(['--tls-cert', certFile, '--tls-key', keyFile]);
    const fingerprint = (pem: Buffer): string => new X509Certificate(pem).fingerprint256;
    const presented = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: portOf(node.tcp), rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
          socket.destroy();
        });
        socket.on('error', reject);
      });
    try {
      const before = await connect(node.tcp, {
        userData: echoHello,
        heartbeatMs: 0,
        tls: { ca: first.cert },
        reconnect: false,
      });
      expect(await presented()).toBe(fingerprint(first.cert));
      await before.send('before');
      expect(await nextText(before)).toBe('before');

      writeFileSync(certFile, second.cert);
      writeFileSync(keyFile, second.key);
      node.process.kill('SIGHUP');
      await node.event('tls-reloaded');

      expect(await presented()).toBe(fingerprint(second.cert));
      const after = await connect(node.ws, {
        userData: echoHello,
        heartbeatMs: 0,
        tls: { ca: second.cert },
        reconnect: false,
      });
      await after.send('after');
      expect(await nextText(after)).toBe('after');
      // The session made with the old certificate is untouched.
      await before.send('still here');
      expect(await nextText(before)).toBe('still here');
      await before.release();
      await after.release();

      // A broken pair is refused and the current certificate stays.
      writeFileSync(keyFile, 'not a key');
      node.process.kill('SIGHUP');
      expect((await node.event('tls-reload-failed')).error).toBeTruthy();
      expect(await presented()).toBe(fingerprint(second.cert));
    } finally {
      await node.stop();
    }
  }, 90_000);
});
