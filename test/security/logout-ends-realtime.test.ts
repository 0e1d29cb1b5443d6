// Issue 11, finding 6: "logging out of the web session leaves the real-time sessions opened with
// its cookie running under that login". The attack: someone who stole (or kept) a login cookie
// opens a real-time session with it; the user logs out; the session must end at once with
// ERR_REVOKED (ABORT reason revoked) and must not resume, while another login's session goes
// on. Against a spawned serve (memory store), and across two serve nodes sharing Redis: the
// logout reaches the node holding the session through the bus.

import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import { encodeHello } from '../../src/apps/service.js';
import type { SessionError } from '../../src/engine/errors.js';
import { AbortReason, ResumeRefuseReason } from '../../src/engine/frames.js';
import { startServe, type ServeNode } from '../support/serve.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { rawPeer } from './raw-peer.js';
import { JSON_TYPE, login, raw } from './support.js';

const dec = new TextDecoder();
const echo = encodeHello({ service: 'echo' });

async function echoes(s: ClientSession, text: string): Promise<void> {
  await s.send(text);
  const r = await s[Symbol.asyncIterator]().next();
  if (r.done) throw new Error('the session ended');
  expect(dec.decode(r.value)).toBe(text);
}

/** How the session ended; rejects when it has not ended within `ms` after `start()` is called. */
function closedWith(s: ClientSession): { start(ms: number): Promise<SessionError | undefined> } {
  const ended = new Promise<SessionError | undefined>((resolve) =>
    s.on('closed', ({ error }) => resolve(error as SessionError | undefined)),
  );
  return {
    start: (ms) =>
      Promise.race([
        ended,
        new Promise<never>((_, reject) => {
          setTimeout(() => reject(new Error(`the session was still running ${ms} ms after the logout`)), ms).unref();
        }),
      ]),
  };
}

/** The attack on `victimNode` (where the stolen cookie's session lives), the logout on `logoutNode`. */
async function attack(victimNode: ServeNode, logoutNode: ServeNode): Promise<void> {
  const victim = await login(logoutNode, 'ada');
  const other = await login(logoutNode, 'bob');
  // The stolen cookie keeps a real-time session; bob's own session runs beside it.
  const stolen = await connect(victimNode.ws, {
    userData: echo,
    heartbeatMs: 0,
    headers: { cookie: victim.cookie },
    reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
  });
  const bobs = await connect(victimNode.ws, { userData: echo, heartbeatMs: 0, headers: { cookie: other.cookie } });
  await echoes(stolen, 'before the logout');
  const ended = closedWith(stolen);
  const sessionId = new Uint8Array(Buffer.from(stolen.id, 'hex'));
  const resumeSecret = new Uint8Array(stolen.machine.resumeSecret as Uint8Array);

  const out = await raw(logoutNode, '/api/logout', {
    method: 'POST',
    headers: { cookie: victim.cookie, ...JSON_TYPE },
    body: '{}',
  });
  expect(out.status).toBe(204);

  const error = await ended.start(15_000);
  expect(error).toMatchObject({ code: 'ERR_REVOKED', origin: 'remote', details: { reason: AbortReason.revoked } });
  expect(error?.message).toContain('logged out');
  // Not resumable with its id and secret, on either node (the end is recorded, with why).
  for (const node of new Set([victimNode, logoutNode])) {
    const peer = await rawPeer(Number(new URL(node.tcp).port));
    peer.send({ type: 'RESUME', sessionId, resumeSecret, received: 0 });
    const answer = await peer.next(10_000);
    expect(answer).toMatchObject({
      type: 'RESUME_REFUSED',
      reason: ResumeRefuseReason.closed,
      message: expect.stringContaining('ERR_REVOKED'),
    });
    peer.destroy();
  }
  const again = await connect(victimNode.ws, {
    userData: echo,
    heartbeatMs: 0,
    headers: { cookie: victim.cookie },
    reconnect: false,
  }).catch((e: unknown) => e as SessionError);
  expect(again).toMatchObject({ code: 'ERR_REFUSED' }); // and the cookie opens nothing new
  // The other login is untouched.
  await echoes(bobs, 'bob goes on');
  expect((await raw(logoutNode, '/api/me', { headers: { cookie: other.cookie } })).status).toBe(200);
  await bobs.release();
}

describe('logout ends the real-time sessions of that login (finding 6)', () => {
  it("one serve (memory store): the stolen cookie's session ends with ERR_REVOKED, another login's goes on", async () => {
    const node = await startServe(['--access', 'chat=login,echo=login']);
    try {
      await attack(node, node);
    } finally {
      await node.stop();
    }
  }, 120_000);

  const noRedis = skipWithout('redis-server', 'logout across serve nodes', 'apt-get install redis-server');
  describe.skipIf(noRedis)('two serve nodes sharing Redis', () => {
    let redis: RedisServer | undefined;
    afterAll(async () => {
      await redis?.stop();
    });

    it('the logout on node A ends the session held by node B; a resume of it is refused with ERR_REVOKED', async () => {
      redis = await startRedis();
      const [a, b] = await Promise.all([
        startServe(['--store', redis.url, '--access', 'echo=login']),
        startServe(['--store', redis.url, '--access', 'echo=login']),
      ]);
      try {
        await attack(b, a);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    }, 180_000);
  });
});
