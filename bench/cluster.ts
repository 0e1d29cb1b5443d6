// Cluster benchmark: the three multi-node modes side by side, at 2, 3 and 5 nodes.
//
//   sticky       a MemoryStore per node; a load balancer sends each session's requests to its
//                node, so each node holds only its share and no write leaves the node (when a node
//                dies, its sessions die with it)
//   shared       a RedisStore per node, one redis-server (started here on a free port); every
//                node reaches every session through Redis
//   replicated   a ReplicatedStore per node, linked all-to-all over loopback TCP; every node holds
//                every session; each write goes to the key's owner and is sent to every other node
//
// All nodes run in this process (one core for all of them: absolute rates are low and shared;
// compare modes within one run). Per mode and node count:
//
//   1. create SESSIONS sessions of about PAYLOAD bytes of JSON (writes spread over the nodes)
//   2. memory: the heap after a full GC minus the heap before (sticky, replicated: the nodes'
//      in-process state) or Redis `used_memory` after minus before (shared); per node is total / N
//      for the in-process modes and 0 for shared (the nodes hold nothing; Redis holds it all)
//   3. UPDATES writes (set) with CONCURRENCY in flight, each from a random node (sticky: from the
//      session's node): writes/s and p50 latency under that load
//   4. READS reads (get), same shape
//   5. write amplification: network messages and bytes per logical write during step 3
//      (shared: Redis total_net_input_bytes + total_net_output_bytes and 2 messages per command
//      (request, reply); replicated: what the nodes sent to each other; sticky: nothing leaves
//      the node)
//
// Sizes: COLLOQUY_BENCH_CLUSTER_SESSIONS (default 2000), COLLOQUY_BENCH_CLUSTER_UPDATES (4000).

import { Redis } from 'ioredis';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MemoryStore } from '../src/store/memory-store.js';
import { RedisStore } from '../src/store/redis-store.js';
import { ReplicatedStore } from '../src/cluster/replicated-store.js';
import type { SessionStore } from '../src/store/store.js';
import { have, startRedis, type RedisServer } from '../test/support/redis.js';

const SESSIONS = Number(process.env.COLLOQUY_BENCH_CLUSTER_SESSIONS ?? 2000);
const UPDATES = Number(process.env.COLLOQUY_BENCH_CLUSTER_UPDATES ?? 4000);
const READS = UPDATES * 2;
const CONCURRENCY = 32;
const PAYLOAD = 400;
const TTL = 600_000;
const NODE_COUNTS = [2, 3, 5];

type Mode = 'sticky' | 'shared' | 'replicated';

interface Result {
  mode: Mode;
  nodes: number;
  writesPerSec: number;
  writeP50: number;
  readsPerSec: number;
  readP50: number;
  totalBytes: number;
  perNodeBytes: number;
  msgsPerWrite: number;
  bytesPerWrite: number;
}

interface Setup {
  stores: SessionStore[];
  /** Which node a session's writes come from (sticky: always its own node). */
  pick(id: string): SessionStore;
  /** Memory held, by the measure this mode uses. */
  memory(): Promise<number>;
  /** Network messages and bytes so far. */
  traffic(): Promise<{ messages: number; bytes: number }>;
  close(): Promise<void>;
  memoryIsPerNodeShare: boolean;
}

const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

async function heap(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

const hash = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
};
const random = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)] as T;

async function setupSticky(n: number): Promise<Setup> {
  const stores = Array.from({ length: n }, () => new MemoryStore({ sweepIntervalMs: 0 }));
  return {
    stores,
    pick: (id) => stores[hash(id) % n] as MemoryStore,
    memory: heap,
    traffic: async () => ({ messages: 0, bytes: 0 }),
    close: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
    memoryIsPerNodeShare: true,
  };
}

async function setupShared(n: number, redis: RedisServer): Promise<Setup> {
  const prefix = `bench${n}x${Date.now()}`;
  const stores = Array.from(
    { length: n },
    () => new RedisStore({ url: redis.url, prefix, sweepIntervalMs: 0, timeoutMs: 5000 }),
  );
  const admin = new Redis(redis.url);
  const info = async (field: string): Promise<number> => {
    const text = await admin.info();
    const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };
  let commands = 0;
  const counted = stores.map((s) =>
    countCommands(s, () => {
      commands++;
    }),
  );
  return {
    stores: counted,
    pick: () => random(counted),
    memory: () => info('used_memory'),
    traffic: async () => ({
      messages: commands * 2,
      bytes: (await info('total_net_input_bytes')) + (await info('total_net_output_bytes')),
    }),
    close: async () => {
      await admin.flushall();
      admin.disconnect();
      await Promise.all(stores.map((s) => s.close()));
    },
    memoryIsPerNodeShare: false,
  };
}

/** Counts store calls (each is one script / command round trip on standalone Redis). */
function countCommands(s: SessionStore, count: () => void): SessionStore {
  return new Proxy(s, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'set' || prop === 'get' || prop === 'compareAndSet')
        return (...args: unknown[]) => {
          count();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

async function setupReplicated(n: number): Promise<Setup> {
  const stores = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      ReplicatedStore.start({
        nodeId: `node${i}`,
        sweepIntervalMs: 0,
        timeoutMs: 10_000,
        clusterSecret: 'bench',
        link: { heartbeatMs: 5000 },
      }),
    ),
  );
  for (const s of stores) s.setPeers(stores.map((o) => ({ id: o.nodeId, url: o.url })));
  await Promise.all(stores.map((s) => s.settled()));
  return {
    stores,
    pick: () => random(stores),
    memory: heap,
    traffic: async () =>
      stores.reduce((t, s) => ({ messages: t.messages + s.stats.sent.messages, bytes: t.bytes + s.stats.sent.bytes }), {
        messages: 0,
        bytes: 0,
      }),
    close: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
    memoryIsPerNodeShare: true,
  };
}

async function timed(count: number, op: (i: number) => Promise<unknown>): Promise<{ perSec: number; p50: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        await op(i);
        lat.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { perSec: count / seconds, p50: lat[Math.floor(lat.length / 2)] ?? NaN };
}

async function measure(mode: Mode, n: number, redis: RedisServer | null): Promise<Result> {
  const memBefore = mode === 'shared' ? 0 : await heap();
  const setup =
    mode === 'sticky'
      ? await setupSticky(n)
      : mode === 'shared'
        ? await setupShared(n, redis as RedisServer)
        : await setupReplicated(n);
  try {
    const before = mode === 'shared' ? await setup.memory() : memBefore;
    const pad = 'x'.repeat(PAYLOAD - 60);
    const ids = Array.from({ length: SESSIONS }, (_, i) => `sess-${n}-${i}`);
    await timed(SESSIONS, (i) => {
      const id = ids[i] as string;
      return setup.pick(id).set(id, { user: `u${i}`, n: 0, pad }, { ttlMs: TTL, principal: `u${i % 100}` });
    });
    if (mode === 'replicated') await settle(setup.stores as ReplicatedStore[]);
    const after = await setup.memory();
    const total = Math.max(0, after - before);
    const t0 = await setup.traffic();
    const w = await timed(UPDATES, (i) => {
      const id = ids[i % SESSIONS] as string;
      return setup.pick(id).set(id, { user: 'u', n: i, pad }, { ttlMs: TTL });
    });
    if (mode === 'replicated') await settle(setup.stores as ReplicatedStore[]);
    const t1 = await setup.traffic();
    const r = await timed(READS, (i) => {
      const id = ids[(i * 7) % SESSIONS] as string;
      return setup.pick(id).get(id);
    });
    return {
      mode,
      nodes: n,
      writesPerSec: w.perSec,
      writeP50: w.p50,
      readsPerSec: r.perSec,
      readP50: r.p50,
      totalBytes: total,
      perNodeBytes: setup.memoryIsPerNodeShare ? total / n : 0,
      msgsPerWrite: (t1.messages - t0.messages) / UPDATES,
      bytesPerWrite: (t1.bytes - t0.bytes) / UPDATES,
    };
  } finally {
    await setup.close();
  }
}

/** Until every node holds the same sessions (bounded). */
async function settle(stores: ReplicatedStore[]): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const d = stores.map((s) => s.digest().sha256);
    if (d.every((x) => x === d[0])) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('replicated nodes did not converge');
}

function table(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

const k = (v: number): string => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)}k` : 'n/a');
const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}` : 'n/a');
const mib = (v: number): string => `${(v / 1024 / 1024).toFixed(2)}`;
const ratio = (a: number, b: number): string => (b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

export async function run(): Promise<void> {
  console.log(
    `cluster modes: ${SESSIONS} sessions of ~${PAYLOAD} B JSON, ${UPDATES} writes and ${READS} reads at ${CONCURRENCY} in flight, node ${process.version}; all nodes in one process`,
  );
  let redis: RedisServer | null = null;
  if (have('redis-server')) redis = await startRedis();
  else console.log('NOTE: redis-server is not installed: the shared mode is skipped (apt-get install -y redis-server)');
  const results: Result[] = [];
  try {
    for (const n of NODE_COUNTS) {
      for (const mode of ['sticky', 'shared', 'replicated'] as Mode[]) {
        if (mode === 'shared' && !redis) continue;
        results.push(await measure(mode, n, redis));
      }
    }
  } finally {
    await redis?.stop();
  }
  const rows: string[][] = [
    [
      'nodes',
      'mode',
      'writes/s',
      'write p50 ms',
      'reads/s',
      'read p50 ms',
      'MiB/node',
      'MiB total',
      'total vs shared',
      'msgs/write',
      'bytes/write',
      'bytes vs shared',
    ],
  ];
  for (const r of results) {
    const shared = results.find((x) => x.mode === 'shared' && x.nodes === r.nodes);
    rows.push([
      String(r.nodes),
      r.mode,
      k(r.writesPerSec),
      ms(r.writeP50),
      k(r.readsPerSec),
      ms(r.readP50),
      mib(r.perNodeBytes),
      mib(r.totalBytes),
      shared ? ratio(r.totalBytes, shared.totalBytes) : 'n/a',
      r.msgsPerWrite.toFixed(2),
      r.bytesPerWrite.toFixed(0),
      shared ? ratio(r.bytesPerWrite, shared.bytesPerWrite) : 'n/a',
    ]);
  }
  table(rows);
  console.log(
    'MiB: heap after GC (sticky, replicated: the nodes in this process; per node = total / N) or Redis used_memory (shared: the nodes hold none).',
  );
  console.log(
    'msgs/write, bytes/write: network traffic per logical write (shared: request + reply, Redis net in + out bytes; replicated: node to node; sticky: none).',
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
