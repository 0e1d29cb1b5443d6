// RPC exactly once across nodes: two nodes share one store for sessions and calls. A slow call
// whose session moves to the other node mid-call is joined there (the client sends it again on
// `$/interrupted`) and runs once in all; a retry from a new session of the same client on the
// other node gets the stored answer; a call whose runner stopped renewing its lease is taken
// over and run again with `attempt` 2.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/apps/rpc.js';
import { SharedCalls } from '../../src/apps/rpc-shared.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';
import { startAppsServer } from './fixtures/apps-server.js';
import type { AppsServer } from './fixtures/apps-server.js';

let root: string;
const nodes: AppsServer[] = [];
let lb: Forwarder | undefined;
beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'colloquy-rpc-shared-')); });
afterEach(async () => {
  await lb?.close();
  lb = undefined;
  for (const n of nodes.splice(0)) await n.close();
  await rm(root, { recursive: true, force: true });
});

async function twoNodes(): Promise<{ node1: AppsServer; node2: AppsServer; url: string; port(n: AppsServer): number }> {
  const store = new MemoryStore();
  const start = (): Promise<AppsServer> => startAppsServer({ files: { root }, rpc: { shared: { store, pollMs: 20, leaseMs: 600 } }, server: { heartbeatMs: 0, durability: { store } } });
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
    expect(claimA).toMatchObject({ kind: 'run', attempt: 1 });
    // A never renews nor finishes (its node died): B waits out the lease, then runs it.
    const started = performance.now();
    const claimB = await b.claim('k', new AbortController().signal);
    expect(claimB).toMatchObject({ kind: 'run', attempt: 2 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    await b.finish('k', { jsonrpc: '2.0', id: 1, result: 'from b' });
    expect(await a.claim('k', new AbortController().signal)).toEqual({ kind: 'done', response: { jsonrpc: '2.0', id: 1, result: 'from b' } });
  });

  it('a runner that renews its lease is waited for, not run twice', async () => {
    const store = new MemoryStore();
    const a = new SharedCalls({ store, leaseMs: 150, pollMs: 10 }, 60_000, 5_000);
    const b = new SharedCalls({ store, leaseMs: 150, pollMs: 10 }, 60_000, 5_000);
    const claimA = await a.claim('k', new AbortController().signal);
    if (claimA.kind !== 'run') throw new Error('expected to run');
    const stop = a.renew('k', claimA);
    const waiting = b.claim('k', new AbortController().signal);
    await new Promise((r) => setTimeout(r, 600)); // four leases long
    await a.finish('k', { jsonrpc: '2.0', id: 1, result: 'once' });
    stop();
    expect(await waiting).toEqual({ kind: 'done', response: { jsonrpc: '2.0', id: 1, result: 'once' } });
  });
});
