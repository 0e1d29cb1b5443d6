// `colloquy serve --store` in its Redis forms: redis://, redis+sentinel://, redis+cluster:// and
// the rediss variants parsed to what RedisStore and RedisBus open; malformed URLs refused with
// what is wrong and the right form; passwords (from the URL or the environment) never printed:
// not in parse errors, not in a usage error, not when the store cannot be reached.

import { describe, expect, it } from 'vitest';
import { parseStoreSpec } from '../../src/serve/backing.js';
import { parseRedisSpec, redact, REDIS_PASSWORD_ENV, SENTINEL_PASSWORD_ENV } from '../../src/serve/redis-url.js';
import { freePort } from '../support/redis.js';
import { runCaptured } from '../support/run-cli.js';

const SECRET = 'pa55-w0rd-XYZZY';

describe('parseRedisSpec', () => {
  it('reads the standalone, Sentinel and Cluster forms, with TLS and passwords', () => {
    expect(parseRedisSpec('redis://127.0.0.1:6380', {})).toMatchObject({
      mode: 'standalone',
      tls: false,
      target: { url: 'redis://127.0.0.1:6380/0', redisOptions: {} },
    });
    expect(parseRedisSpec(`rediss://app:${SECRET}@cache.example:6390/3`, {}).target).toEqual({
      url: 'rediss://cache.example:6390/3',
      redisOptions: { username: 'app', password: SECRET, tls: {} },
    });
    const s = parseRedisSpec(`redis+sentinel://:${SECRET}@h1:26379,h2:26380,[::1]/mymaster`, {});
    expect(s).toMatchObject({
      mode: 'sentinel',
      tls: false,
      display: 'redis+sentinel://:***@h1:26379,h2:26380,[::1]/mymaster',
    });
    expect(s.target).toEqual({
      sentinels: [
        { host: 'h1', port: 26379 },
        { host: 'h2', port: 26380 },
        { host: '::1', port: 26379 },
      ],
      name: 'mymaster',
      redisOptions: { password: SECRET },
    });
    const st = parseRedisSpec('rediss+sentinel://h1:26379/mymaster', {
      [REDIS_PASSWORD_ENV]: SECRET,
      [SENTINEL_PASSWORD_ENV]: 'sp',
    });
    expect(st.target).toEqual({
      sentinels: [{ host: 'h1', port: 26379 }],
      name: 'mymaster',
      redisOptions: {
        password: SECRET,
        tls: {},
        enableTLSForSentinelMode: true,
        sentinelTLS: {},
        sentinelPassword: 'sp',
      },
    });
    expect(parseRedisSpec('redis+cluster://h1:7000,h2:7001,h3', {}).target).toEqual({
      cluster: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
        { host: 'h3', port: 6379 },
      ],
      clusterOptions: { redisOptions: {} },
    });
    expect(parseRedisSpec('rediss+cluster://h1:7000', { [REDIS_PASSWORD_ENV]: SECRET }).target).toEqual({
      cluster: [{ host: 'h1', port: 7000 }],
      clusterOptions: { redisOptions: { password: SECRET, tls: {} } },
    });
    // The URL's password wins over the environment's.
    expect(parseRedisSpec('redis+cluster://:fromurl@h1:7000', { [REDIS_PASSWORD_ENV]: SECRET }).target).toMatchObject({
      clusterOptions: { redisOptions: { password: 'fromurl' } },
    });
    expect(parseStoreSpec('redis+cluster://h1:7000')).toMatchObject({ kind: 'redis', redis: { mode: 'cluster' } });
  });

  it.each([
    [
      'redis+sentinel://h1:26379,h2:26379',
      /names no primary.*\/mymaster.*redis\+sentinel:\/\/h1:26379,h2:26379,h3:26379\/mymaster/,
    ],
    ['redis+sentinel://h1:26379/my master', /primary name 'my master'/],
    ['redis+sentinel:///mymaster', /names no host/],
    ['redis+cluster://h1:7000,h2:70000', /port '70000' in 'h2:70000'.*redis\+cluster:\/\/h1:7000/],
    ['redis+cluster://h1:7000,,h2:7001', /has '' where HOST:PORT belongs/],
    ['redis+cluster://h1:7000/0', /Cluster has no database/],
    ['redis+cluster://h1:x', /port 'x'/],
    ['redis://h1:6379,h2:6379', /several hosts.*redis\+sentinel/],
    ['redis://h1:6379/99', /database number/],
    ['redis+sentinel://h1/m?db=1', /no \?query/],
    ['redis+replica://h1', /is not a redis URL|not/],
  ])('refuses %s with what is wrong and the right form', (spec, message) => {
    expect(() => parseStoreSpec(spec)).toThrow(message);
  });

  it('never shows a password: in redact, in parse errors, in serve usage errors', async () => {
    expect(redact(`redis+sentinel://u:${SECRET}@h1:1,h2:2/m`)).toBe('redis+sentinel://u:***@h1:1,h2:2/m');
    expect(redact(`rediss+cluster://:${SECRET}@h1:7000,h2:bad`)).toBe('rediss+cluster://:***@h1:7000,h2:bad');
    expect(redact('redis://h1:6379')).toBe('redis://h1:6379');
    for (const bad of [
      `redis+sentinel://:${SECRET}@h1:26379`,
      `redis+cluster://u:${SECRET}@h1:99999`,
      `redis://:${SECRET}@h1,h2`,
    ]) {
      expect(() => parseStoreSpec(bad)).toThrow(/\*\*\*/);
      try {
        parseStoreSpec(bad);
      } catch (e) {
        expect((e as Error).message).not.toContain(SECRET);
      }
      const r = await run(['serve', '--store', bad]);
      expect(r.code).toBe(2);
      expect(r.err).toContain('***');
      expect(r.err + r.out).not.toContain(SECRET);
    }
  });

  it('serve on an unreachable Sentinel fails with exit 1, naming the store, without the passwords', async () => {
    const port = await freePort();
    const r = await run(
      [
        'serve',
        '--port',
        '0',
        '--tcp-port',
        '0',
        '--files',
        '/tmp/colloquy-store-url-files',
        '--store',
        `redis+sentinel://:${SECRET}@127.0.0.1:${port}/mymaster`,
      ],
      { [SENTINEL_PASSWORD_ENV]: `${SECRET}-sentinel` },
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(`redis+sentinel://:***@127.0.0.1:${port}/mymaster`);
    expect(r.err + r.out).not.toContain(SECRET);
  }, 60_000);
});

const run = runCaptured;
