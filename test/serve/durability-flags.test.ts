// `colloquy serve --persist-retry-ms MS --wait-replicas N --wait-timeout-ms MS`
// (src/serve/durability-flags.ts): each store mode's defaults (WAIT for one replica under Sentinel
// and Cluster, none on redis://), values checked against the store they are for (usage errors,
// exit 2, naming the flag), --help with the defaults; and, with a real serve process on a private
// redis-server without replicas, that the flags reach the running node: the first durable write
// waits the WAIT timeout, later ones skip the WAIT once Redis says it has no replica, /metrics
// counts each shortfall, and once Redis is gone a session ends after
// the persist retry window, with the bound in the reason its client hears.

import { afterEach, describe, expect, it } from 'vitest';
import { encodeHello } from '../../src/apps/service.js';
import { connect, type ClientSession } from '../../src/client/connect.js';
import type { SessionError } from '../../src/engine/errors.js';
import { parseStoreSpec, replicaWaitFor } from '../../src/serve/backing.js';
import { parseDurabilityFlags } from '../../src/serve/durability-flags.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { runCaptured } from '../support/run-cli.js';
import { ANONYMOUS, startServe, type ServeNode } from '../support/serve.js';

/** The Prometheus samples of serve's /metrics, keyed `name{labels}` as printed. */
async function scrape(node: ServeNode): Promise<Map<string, number>> {
  const res = await fetch(new URL('/metrics', node.http), { headers: { authorization: `Bearer ${node.adminToken}` } });
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{.*\})?) (\S+)$/.exec(line);
    if (m) samples.set(m[1] as string, Number(m[2]));
  }
  return samples;
}

const SENTINEL = parseStoreSpec('redis+sentinel://h1:26379,h2:26379/mymaster');
const CLUSTER = parseStoreSpec('redis+cluster://h1:7000,h2:7001');
const STANDALONE = parseStoreSpec('redis://h1:6379');
const POSTGRES = parseStoreSpec('postgres://app@db:5432/app');
const MEMORY = parseStoreSpec('memory');

describe('parseDurabilityFlags', () => {
  it('leaves every default to the store mode when no flag is given', () => {
    expect(parseDurabilityFlags({}, SENTINEL)).toEqual({});
    expect(replicaWaitFor('sentinel', {})).toEqual({ replicas: 1, timeoutMs: 500 });
    expect(replicaWaitFor('cluster', {})).toEqual({ replicas: 1, timeoutMs: 500 });
    expect(replicaWaitFor('standalone', {})).toBe(false);
  });

  it('sets the retry window on any shared store, and WAIT on Redis in each mode', () => {
    expect(parseDurabilityFlags({ 'persist-retry-ms': '60000' }, POSTGRES)).toEqual({ persistRetryMs: 60_000 });
    expect(parseDurabilityFlags({ 'persist-retry-ms': '0' }, STANDALONE)).toEqual({ persistRetryMs: 0 });
    // Under Sentinel and Cluster one flag changes its part and the other keeps the default.
    expect(parseDurabilityFlags({ 'wait-replicas': '2' }, SENTINEL)).toEqual({
      replicaWait: { replicas: 2, timeoutMs: 500 },
    });
    expect(parseDurabilityFlags({ 'wait-timeout-ms': '200' }, CLUSTER)).toEqual({
      replicaWait: { replicas: 1, timeoutMs: 200 },
    });
    expect(parseDurabilityFlags({ 'wait-replicas': '0' }, CLUSTER)).toEqual({ replicaWait: false });
    // redis:// has no WAIT unless asked (a primary whose replicas are promoted by hand).
    expect(parseDurabilityFlags({ 'wait-replicas': '1', 'wait-timeout-ms': '50' }, STANDALONE)).toEqual({
      replicaWait: { replicas: 1, timeoutMs: 50 },
    });
    const knobs = parseDurabilityFlags({ 'wait-replicas': '0' }, SENTINEL);
    expect(replicaWaitFor('sentinel', knobs)).toBe(false);
  });

  it.each([
    [{ 'persist-retry-ms': '5' }, MEMORY, '--persist-retry-ms needs a shared store'],
    [
      { 'persist-retry-ms': '1e3' },
      STANDALONE,
      "--persist-retry-ms takes a whole number of milliseconds from 0 to 3600000, not '1e3'",
    ],
    [{ 'persist-retry-ms': '3600001' }, STANDALONE, 'from 0 to 3600000'],
    [{ 'wait-replicas': '1' }, POSTGRES, "--wait-replicas is Redis's WAIT: it needs --store redis://"],
    [{ 'wait-timeout-ms': '100' }, MEMORY, "--wait-timeout-ms is Redis's WAIT"],
    [{ 'wait-replicas': 'two' }, SENTINEL, "--wait-replicas takes a whole number from 0 to 100, not 'two'"],
    [{ 'wait-timeout-ms': '5000' }, SENTINEL, "before the store's 5000 ms call timeout), not '5000'"],
    [{ 'wait-timeout-ms': '0' }, SENTINEL, 'from 1 to 4999'],
    [{ 'wait-timeout-ms': '200' }, STANDALONE, '--wait-timeout-ms needs --wait-replicas N (N >= 1)'],
    [{ 'wait-replicas': '0', 'wait-timeout-ms': '200' }, SENTINEL, '--wait-replicas 0 turns WAIT off'],
  ] as const)('refuses %j on %j', (values, store, says) => {
    expect(() => parseDurabilityFlags(values, store)).toThrow(says);
  });
});

describe('serve: the flags on the command line', () => {
  it('bad values are usage errors (exit 2) naming the flag, before anything is opened', async () => {
    for (const [args, says] of [
      [['--persist-retry-ms', '1000'], '--persist-retry-ms needs a shared store'],
      [['--store', 'redis://127.0.0.1:1', '--wait-timeout-ms', '200'], '--wait-timeout-ms needs --wait-replicas N'],
      [['--store', 'redis+sentinel://127.0.0.1:1/m', '--wait-timeout-ms', '9000'], 'from 1 to 4999'],
      [['--store', 'postgres://app@127.0.0.1:1/app', '--wait-replicas', '1'], "--wait-replicas is Redis's WAIT"],
    ] as const) {
      const r = await runCaptured(['serve', ...args]);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toContain(says);
    }
  }, 60_000);

  it('--help lists each flag with its default', async () => {
    const r = await runCaptured(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--persist-retry-ms MS\s[^]*?\(default 30000;/);
    expect(r.out).toMatch(
      /--wait-replicas N\s[^]*?\(default 1 with\s+redis\+sentinel:\/\/ and redis\+cluster:\/\/, 0 with redis:\/\/\)/,
    );
    expect(r.out).toMatch(/--wait-timeout-ms MS[^]*?\(default 500, below 5000\)/);
  });
});

const NO_REDIS = skipWithout('redis-server', 'serve durability flags on Redis', 'apt-get install redis-server');

describe.skipIf(NO_REDIS)('serve on a redis-server without replicas: the flags reach the node', () => {
  let redis: RedisServer | undefined;
  let node: ServeNode | undefined;
  let session: ClientSession | undefined;
  afterEach(async () => {
    session?.abort('test over');
    session = undefined;
    await node?.stop();
    node = undefined;
    await redis?.stop();
    redis = undefined;
  }, 30_000);

  async function echoOnce(s: ClientSession, text: string): Promise<number> {
    const started = performance.now();
    await s.send(text);
    for await (const m of s) {
      expect(new TextDecoder().decode(m)).toBe(text);
      break;
    }
    return performance.now() - started;
  }

  it('--wait-replicas 1 --wait-timeout-ms 300: the first write waits for the missing replica, every one is counted; --persist-retry-ms 1500 bounds the outage', async () => {
    redis = await startRedis();
    node = await startServe([
      ...ANONYMOUS,
      '--store',
      redis.url,
      '--wait-replicas',
      '1',
      '--wait-timeout-ms',
      '300',
      '--persist-retry-ms',
      '1500',
    ]);
    const n = node;
    const opening = performance.now();
    const s = await connect(n.tcp, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0, reconnect: false });
    session = s;
    // The ACCEPT goes out only once the new session stood in the store (write-ahead), and that
    // first write waited for WAIT 1 300 to time out: no replica exists.
    expect(performance.now() - opening).toBeGreaterThanOrEqual(290);
    // Redis then says it has no replica (ROLE), so the next writes do not block the connection on
    // a WAIT that cannot succeed (src/store/redis-wait.ts); each is still counted.
    expect(await echoOnce(s, 'not waited')).toBeLessThan(290);
    const samples = await scrape(n);
    const shortfalls = [...samples]
      .filter(([k]) =>
        k.startsWith('colloquy_store_call_duration_seconds_count{store="redis",op="wait",outcome="ERR_STORE_TIMEOUT"'),
      )
      .reduce((a, [, v]) => a + v, 0);
    expect(shortfalls).toBeGreaterThanOrEqual(2);

    // Redis goes away for good: the next persist retries for 1500 ms, then the session ends
    // saying so (not at once, and not after the 30 s default).
    const closed = new Promise<{ error?: SessionError }>((resolve) => s.on('closed', resolve));
    await redis.kill();
    const sentAt = performance.now();
    await s.send('after the store');
    const { error } = await closed;
    const after = performance.now() - sentAt;
    expect(error?.message).toMatch(/unreachable for 1500 ms \(persistRetryMs/);
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(20_000);
  }, 120_000);

  it('without the flags a redis:// node does not WAIT', async () => {
    redis = await startRedis();
    node = await startServe([...ANONYMOUS, '--store', redis.url]);
    const n = node;
    const s = await connect(n.tcp, { userData: encodeHello({ service: 'echo' }), heartbeatMs: 0, reconnect: false });
    session = s;
    await echoOnce(s, 'no wait');
    const keys = [...(await scrape(n)).keys()];
    expect(keys.some((k) => /op="(set|compareAndSet)",outcome="ok"/.test(k))).toBe(true);
    expect(keys.some((k) => k.includes('op="wait"'))).toBe(false);
  }, 120_000);
});
