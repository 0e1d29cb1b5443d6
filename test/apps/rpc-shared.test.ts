// RPC exactly once across nodes: two nodes share one store for sessions and calls. A slow call
// whose session moves to the other node mid-call is joined there (the client sends it again on
// `$/interrupted`) and runs once in all; a retry from a new session of the same client on the
// other node gets the stored answer; a call whose runner stopped renewing its lease is taken
// over and run again with `attempt` 2; a runner that finishes after it was taken over (its node
// was frozen past its lease) stores nothing: the answer stays the one the new runner stored, on
// the memory store and on a real Redis.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/apps/rpc.js';
import { STALE_RUN_CHANNEL, SharedCalls } from '../../src/apps/rpc-shared.js';
import type { StaleRunMessage } from '../../src/apps/rpc-shared.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

let root: string;
const nodes: AppsServer[] = [];
let lb: Forwarder | undefined;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'colloquy-rpc-shared-'));
});
afterEach(async () => {
  await lb?.close();
  lb = undefined;
  for (const n of nodes.splice(0)) await n.close();
  await rm(root, { recursive: true, force: true });
});

async function twoNodes(): Promise<{ node1: AppsServer; node2: AppsServer; url: string; port(n: AppsServer): number }> {
  const store = new MemoryStore();
  const start = (): Promise<AppsServer> =>
    startAppsServer({
      files: { root },
      rpc: { shared: { store, pollMs: 20, leaseMs: 600 } },
      server: { heartbeatMs: 0, durability: { store } },
    });
  const node1 = await start();
  const node2 = await start();
  nodes.push(node1, node2);
  const port = (n: AppsServer): number => n.server.addresses.tcp as number;
  lb = await forwarder(port(node1));
  return { node1, node2, url: `tcp://127.0.0.1:${lb.port}`, port };
}

const connectOpts = { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } };

describe('rpc: exactly once across nodes', () => {
  it('a slow call whose session moves to another node mid-call runs once; the answer arrives there', async () => {
    const { node1, node2, url, port } = await twoNodes();
    const client = await RpcClient.connect(url, { connect: connectOpts });
    const call = client.call('test.count', { sleepMs: 800 });
    for (let i = 0; i < 200 && node1.count() === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(node1.count()).toBe(1); // running on node1
    lb?.switchTo(port(node2));
    lb?.cutAll();
    expect(await call).toBe(1);
    expect(node1.count() + node2.count()).toBe(1);
    expect(node2.server.sessions.has(client.session.id)).toBe(true); // answered through node2
    await client.close();
  });

  it('a retry from a new session of the same client on the other node gets the stored answer', async () => {
    const { node1, node2, url, port } = await twoNodes();
    const first = await RpcClient.connect(url, { clientId: 'c-1', connect: connectOpts });
    expect(await first.call('test.count', {}, { id: 'job-7' })).toBe(1);
    await first.close();
    lb?.switchTo(port(node2));
    const second = await RpcClient.connect(url, { clientId: 'c-1', connect: connectOpts });
    expect(await second.call('test.count', {}, { id: 'job-7' })).toBe(1);
    expect(node1.count() + node2.count()).toBe(1);
    await second.close();
  });

  it('a call whose runner stopped renewing (its node died) is taken over and run again, attempt 2', async () => {
    const store = new MemoryStore();
    const a = new SharedCalls({ store, leaseMs: 200, pollMs: 10 }, 60_000, 5_000);
    const b = new SharedCalls({ store, leaseMs: 200, pollMs: 10 }, 60_000, 5_000);
    const claimA = await a.claim('k', new AbortController().signal);
    expect(claimA).toMatchObject({ kind: 'run', lease: { attempt: 1 } });
    // A never renews nor finishes (its node died): B waits out the lease, then runs it.
    const started = performance.now();
    const claimB = await b.claim('k', new AbortController().signal);
    expect(claimB).toMatchObject({ kind: 'run', lease: { attempt: 2 } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    if (claimA.kind !== 'run' || claimB.kind !== 'run') throw new Error('expected to run');
    expect(await b.finish(claimB.lease, { jsonrpc: '2.0', id: 1, result: 'from b' })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: 'from b',
    });
    // A comes back and finishes: its result is discarded, it answers with B's.
    expect(await a.finish(claimA.lease, { jsonrpc: '2.0', id: 1, result: 'from a' })).toEqual({
      jsonrpc: '2.0',
      id: 1,
      result: 'from b',
    });
    expect(await a.claim('k', new AbortController().signal)).toEqual({
      kind: 'done',
      response: { jsonrpc: '2.0', id: 1, result: 'from b' },
    });
  });

  it('a runner that renews its lease is waited for, not run twice', async () => {
    const store = new MemoryStore();
    const a = new SharedCalls({ store, leaseMs: 150, pollMs: 10 }, 60_000, 5_000);
    const b = new SharedCalls({ store, leaseMs: 150, pollMs: 10 }, 60_000, 5_000);
    const claimA = await a.claim('k', new AbortController().signal);
    if (claimA.kind !== 'run') throw new Error('expected to run');
    const stop = a.renew(claimA.lease);
    const waiting = b.claim('k', new AbortController().signal);
    await new Promise((r) => setTimeout(r, 600)); // four leases long
    await stop();
    await a.finish(claimA.lease, { jsonrpc: '2.0', id: 1, result: 'once' });
    expect(await waiting).toEqual({ kind: 'done', response: { jsonrpc: '2.0', id: 1, result: 'once' } });
  });
});

const SKIP_REDIS = skipWithout(
  'redis-server',
  'test/apps/rpc-shared.test.ts (redis)',
  'apt-get install -y redis-server',
);
let redis: RedisServer | undefined;
let prefixes = 0;
const stores: { name: string; skip: boolean; open(): Promise<SessionStore & { close?(): Promise<void> }> }[] = [
  { name: 'memory', skip: false, open: async () => new MemoryStore() },
  {
    name: 'redis',
    skip: SKIP_REDIS,
    open: async () => {
      redis ??= await startRedis();
      return new RedisStore({ url: redis.url, prefix: `rpc${process.pid}x${++prefixes}`, timeoutMs: 2000 });
    },
  },
];
afterAll(async () => {
  await redis?.stop();
});

/** A store whose calls wait while it is frozen: a node frozen (SIGSTOP) or cut off from the store. */
function freezable(store: SessionStore): { store: SessionStore; freeze(): void; thaw(): void } {
  let gate: { promise: Promise<void>; open(): void } | null = null;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        while (gate) await gate.promise;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store: wrapped,
    freeze() {
      let open = (): void => {};
      const promise = new Promise<void>((r) => {
        open = r;
      });
      gate = { promise, open };
    },
    thaw() {
      const g = gate;
      gate = null;
      g?.open();
    },
  };
}

/** A promise and the function that resolves it. */
function latch(): { promise: Promise<void>; open(): void } {
  let open = (): void => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

describe.each(stores)(
  'rpc: a runner frozen past its lease cannot change the stored answer ($name store)',
  ({ skip, open }) => {
    it.skipIf(skip)(
      "node A stalls past its lease, node B runs the call again and stores its answer; A finishes: B's answer stays",
      async () => {
        const store = await open();
        const frozenA = freezable(store);
        const started = latch();
        const release = latch();
        const runs: string[] = [];
        const shared = { pollMs: 10, leaseMs: 300 };
        const start = (s: SessionStore, method: () => unknown): Promise<AppsServer> =>
          startAppsServer({
            files: { root },
            rpc: { shared: { store: s, ...shared }, methods: { 'test.value': method } },
            server: { heartbeatMs: 0 },
          }).then((n) => {
            nodes.push(n);
            return n;
          });
        const nodeA = await start(frozenA.store, async () => {
          runs.push('A');
          started.open();
          await release.promise;
          return 'from A';
        });
        const nodeB = await start(store, () => {
          runs.push('B');
          return 'from B';
        });
        const nodeC = await start(store, () => {
          runs.push('C');
          return 'from C';
        });
        const stale: StaleRunMessage[] = [];
        const onStale = (m: unknown): void => {
          stale.push(m as StaleRunMessage);
        };
        subscribe(STALE_RUN_CHANNEL, onStale);
        const clients: RpcClient[] = [];
        const connect = async (url: string): Promise<RpcClient> => {
          const c = await RpcClient.connect(url, { clientId: 'c-1', connect: connectOpts });
          clients.push(c);
          return c;
        };
        try {
          const first = (await connect(nodeA.tcp)).call('test.value', {}, { id: 'job-1' });
          await started.promise;
          frozenA.freeze(); // A's renewals stop reaching the store: its lease runs out
          // The same call from a new session on B waits out A's lease, then runs it again (attempt 2).
          expect(await (await connect(nodeB.tcp)).call('test.value', {}, { id: 'job-1' })).toBe('from B');
          frozenA.thaw();
          release.open(); // A's run finishes now, after B stored its answer
          expect(await first).toBe('from B'); // A's result is discarded; A answers with the stored one
          expect(stale).toEqual([expect.objectContaining({ attempt: 1 })]);
          // A retry on a node that never saw the call gets the stored answer, and so does one on A.
          expect(await (await connect(nodeC.tcp)).call('test.value', {}, { id: 'job-1' })).toBe('from B');
          expect(await (await connect(nodeA.tcp)).call('test.value', {}, { id: 'job-1' })).toBe('from B');
          expect(runs).toEqual(['A', 'B']);
        } finally {
          unsubscribe(STALE_RUN_CHANNEL, onStale);
          for (const c of clients) await c.close().catch(() => undefined);
          frozenA.thaw();
          release.open();
          for (const n of nodes.splice(0)) await n.close();
          await store.close?.();
        }
      },
      30_000,
    );
  },
);
