// Section 5 of bench/stores.ts: what RedisStore's `waitForReplicas` (WAIT after every write,
// src/store/redis-wait.ts) costs. A private Sentinel group on free ports (a primary, one replica,
// one Sentinel; test/support/redis.ts), the store opened through the Sentinel as serve opens it,
// once without WAIT and once with `{ replicas: 1, timeoutMs: 500 }` (serve's default under
// Sentinel and Cluster):
//   - compareAndSet calls/s with C calls in flight (C workers, each awaiting its call), 100-byte
//     values over KEYS keys;
//   - durable echo over TCP in this process (bench/stores.ts section 2: messages/s with at most
//     WINDOW in flight, and the round trip of one message at a time).
// Both on loopback: the replica acknowledges within a fraction of a millisecond, so this is the
// least WAIT can cost; across machines add the primary-to-replica round trip to every write.
//
// Run: BENCH_ONLY=wait npx tsx bench/stores.ts

import { RedisStore } from '../src/store/redis-store.js';
import type { ReplicaWait } from '../src/store/redis-wait.js';
import type { SessionStore } from '../src/store/store.js';
import { startRedisSentinel } from '../test/support/redis.js';
import { callsPerSecond, fmt, ratioText as ratio, table } from './support.js';

export interface WaitBench {
  warmMs: number;
  measureMs: number;
  concurrency: readonly number[];
  keys: number;
  valueBytes: number;
  echo(store: SessionStore): Promise<{ rate: number; p50: number; p95: number }>;
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;

export async function replicaWaitCost(b: WaitBench): Promise<void> {
  console.log('');
  console.log(
    '5. replica wait: RedisStore through a Sentinel (primary + 1 replica on loopback), WAIT off vs { replicas: 1, timeoutMs: 500 }',
  );
  const group = await startRedisSentinel('benchwait', { replicas: 1 });
  try {
    const open = (wait: ReplicaWait | false, prefix: string): RedisStore =>
      new RedisStore({
        sentinels: group.sentinels,
        name: group.name,
        prefix,
        timeoutMs: 5000,
        sweepIntervalMs: 0,
        waitForReplicas: wait,
      });
    const value = { v: 'x'.repeat(b.valueBytes - 8) };
    const rows: string[][] = [['measure', 'WAIT off', 'WAIT 1', 'ratio', 'shortfalls']];
    for (const c of b.concurrency) {
      const rates: number[] = [];
      let shortfalls = 0;
      for (const wait of [false, { replicas: 1, timeoutMs: 500 }] as const) {
        const store = open(wait, `bw${c}${wait ? 'on' : 'off'}`);
        try {
          const versions = new Map<string, number>();
          for (let k = 0; k < b.keys; k++) versions.set(`k${k}`, await store.set(`k${k}`, value, { ttlMs: 60_000 }));
          // Each worker owns its own keys, so every compareAndSet names the current version.
          const op = async (worker: number, i: number): Promise<void> => {
            const per = Math.floor(b.keys / c);
            const key = `k${worker * per + (i % per)}`;
            const v = await store.compareAndSet(key, versions.get(key) as number, value, { ttlMs: 60_000 });
            if (v === null) throw new Error(`${key}: conflict in the benchmark`);
            versions.set(key, v);
          };
          rates.push(await callsPerSecond(c, b.warmMs, b.measureMs, op));
          shortfalls += store.replicaShortfalls;
        } finally {
          await store.close();
        }
      }
      const [off, on] = rates as [number, number];
      rows.push([`compareAndSet/s, ${c} in flight`, fmt(off), fmt(on), ratio(on / off), String(shortfalls)]);
    }
    const echo: { rate: number; p50: number; p95: number }[] = [];
    let shortfalls = 0;
    for (const wait of [false, { replicas: 1, timeoutMs: 500 }] as const) {
      const store = open(wait, `bwecho${wait ? 'on' : 'off'}`);
      try {
        echo.push(await b.echo(store));
        shortfalls += store.replicaShortfalls;
      } finally {
        await store.close();
      }
    }
    const [off, on] = echo as [(typeof echo)[0], (typeof echo)[0]];
    rows.push(['durable echo messages/s', fmt(off.rate), fmt(on.rate), ratio(on.rate / off.rate), String(shortfalls)]);
    rows.push(['durable echo round trip p50', ms(off.p50), ms(on.p50), ratio(on.p50 / off.p50), '']);
    rows.push(['durable echo round trip p95', ms(off.p95), ms(on.p95), ratio(on.p95 / off.p95), '']);
    table(rows);
  } finally {
    await group.stop();
  }
}
