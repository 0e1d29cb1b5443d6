// Issue 11, finding 5: "unauthenticated logins ... grow Redis without bound". The attack against a
// spawned serve on its own Redis: a flood of logins from many addresses. What it may leave in
// Redis is bounded by the login rates (429 past them) and by unusedLoginMs (every key an unused
// login made expires), while a login that is used stays and works. (test/security/http-limits
// has the same flood against the memory store.)

import { afterAll, describe, expect, it } from 'vitest';
import { redisCommand, skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { startServe } from '../support/serve.js';
import { JSON_TYPE, raw } from './support.js';

const PER_ADDRESS = 3;
const PER_NODE = 8;
const UNUSED_LOGIN_MS = 1500;
const noRedis = skipWithout('redis-server', 'login flood on Redis', 'apt-get install redis-server');

describe.skipIf(noRedis)('a login flood on Redis (finding 5)', () => {
  let redis: RedisServer | undefined;
  afterAll(async () => {
    await redis?.stop();
  });

  it('leaves no more logins than the rates allow, and every key of an unused one expires; a used login stays', async () => {
    redis = await startRedis();
    const port = (redis as RedisServer).port;
    const node = await startServe([
      '--store',
      redis.url,
      '--limit',
      `loginsPerAddressPerMinute=${PER_ADDRESS}`,
      '--limit',
      `loginsPerMinute=${PER_NODE}`,
      '--limit',
      `unusedLoginMs=${UNUSED_LOGIN_MS}`,
    ]);
    try {
      const keys = async (): Promise<string[]> =>
        ((await redisCommand(port, ['KEYS', '*'])) as string[]).filter((k) => !k.startsWith('colloquy:bus:'));

      // The legitimate user logs in first and uses the login (its WebSocket or any request).
      const real = await raw(node, '/api/login', {
        method: 'POST',
        headers: JSON_TYPE,
        body: '{"name":"ada"}',
        localAddress: '127.0.0.50',
      });
      expect(real.status).toBe(200);
      const cookie = (real.headers['set-cookie']?.[0] ?? '').split(';')[0] as string;
      expect((await raw(node, '/api/me', { headers: { cookie } })).status).toBe(200);
      const before = new Set(await keys());
      const sizes = async (): Promise<number> => {
        let n = 0;
        for (const k of before) {
          const type = await redisCommand(port, ['TYPE', k]);
          n +=
            type === 'zset'
              ? Number(await redisCommand(port, ['ZCARD', k]))
              : type === 'set'
                ? Number(await redisCommand(port, ['SCARD', k]))
                : type === 'hash'
                  ? Number(await redisCommand(port, ['HLEN', k]))
                  : 0;
        }
        return n;
      };
      const sizeBefore = await sizes();

      // The flood: 6 addresses x 5 logins each.
      const statuses: number[] = [];
      for (let a = 0; a < 6; a++) {
        for (let i = 0; i < 5; i++) {
          const res = await raw(node, '/api/login', {
            method: 'POST',
            headers: JSON_TYPE,
            body: `{"name":"flood${a}x${i}"}`,
            localAddress: `127.0.0.${60 + a}`,
          });
          statuses.push(res.status);
        }
      }
      expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
      expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(PER_NODE - 1); // the node's budget, ada's login included
      const during = (await keys()).filter((k) => !before.has(k));
      expect(during.length).toBeGreaterThan(0);

      // Once unusedLoginMs has passed, nothing the flood wrote is left in Redis: every key it
      // added (records and index entries) has expired, and the keys that were there before hold
      // no more entries than before (nothing grows per login).
      let left: string[] = during;
      for (let i = 0; i < 60 && left.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 250));
        const now = new Set(await keys());
        left = during.filter((k) => now.has(k));
      }
      expect(left).toEqual([]);
      expect(await sizes()).toBeLessThanOrEqual(sizeBefore);
      expect((await raw(node, '/api/me', { headers: { cookie } })).status).toBe(200);
    } finally {
      await node.stop();
    }
  }, 120_000);
});
