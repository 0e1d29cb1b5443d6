// The replicated store across nodes: writes spread over every node, a node joining a running
// cluster (while writes go on), links cut at random through the fault proxy, a peer too slow to
// keep up, a node dying (failover), and hostile peers. Every node runs in this process with its
// own Server on a loopback port; all waits are bounded polls, never fixed sleeps.

import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { clusterTag, proveHello } from '../../src/cluster/node-identity.js';
import { listen, type Server } from '../../src/server/server.js';
import { ReplicatedStore, type ReplicatedStoreOptions } from '../../src/cluster/replicated-store.js';
import { updateSession } from '../../src/store/store.js';
import { chaosSeed, startFaultProxy, type FaultProxy } from '../chaos/fault-proxy.js';
import { testCertificate } from '../support/tls-cert.js';

const TTL = 600_000;
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((x) => x.close()));
});

async function node(nodeId: string, extra: Partial<ReplicatedStoreOptions> = {}): Promise<ReplicatedStore> {
  const s = await ReplicatedStore.start({ nodeId, clusterSecret: 's3cret', timeoutMs: 10_000, ...extra });
  opened.push(s);
  return s;
}

async function cluster(ids: string[], extra: Partial<ReplicatedStoreOptions> = {}): Promise<ReplicatedStore[]> {
  const nodes = await Promise.all(ids.map((id) => node(id, extra)));
  for (const n of nodes) n.setPeers(nodes.map((o) => ({ id: o.nodeId, url: o.url })));
  await Promise.all(nodes.map((n) => n.settled()));
  return nodes;
}

/** Polls (bounded) until every node has the same digest; returns it. */
async function converged(nodes: ReplicatedStore[], timeoutMs = 30_000): Promise<{ entries: number; sha256: string }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const digests = nodes.map((n) => n.digest());
    if (digests.every((d) => d.sha256 === (digests[0] as { sha256: string }).sha256))
      return digests[0] as { entries: number; sha256: string };
    if (performance.now() > deadline)
      throw new Error(
        `nodes did not converge: ${JSON.stringify(digests.map((d, i) => [nodes[i]?.nodeId, d.entries]))}`,
      );
    await delay(20);
  }
}

/** A key that `owner` owns (rendezvous order as every node of a settled cluster sees it). */
function keyOwnedBy(nodes: ReplicatedStore[], owner: string, prefix: string): string {
  for (let i = 0; i < 10_000; i++) {
    const k = `${prefix}-${i}`;
    if (nodes.every((n) => n.ownerOf(k) === owner)) return k;
  }
  throw new Error('no key found');
}

/** A TCP relay that can be cut off entirely (a partition): while blocked it drops every connection and refuses new ones. */
async function partitionable(
  targetPort: number,
): Promise<{ port: number; block(): void; heal(): void; close(): Promise<void> }> {
  let blocked = false;
  const pairs = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    pairs.add(client);
    pairs.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    block: () => {
      blocked = true;
      for (const s of pairs) s.destroy();
      pairs.clear();
    },
    heal: () => {
      blocked = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of pairs) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('replicated store: several nodes', () => {
  it('every node agrees on owners; increments spread over 3 nodes lose nothing; every copy converges', async () => {
    const nodes = await cluster(['n1', 'n2', 'n3']);
    for (let i = 0; i < 50; i++) {
      const owners = new Set(nodes.map((n) => n.ownerOf(`k${i}`)));
      expect(owners.size).toBe(1);
    }
    // A key owned by n3, incremented from all three nodes at once: n1 and n2 go through the network.
    const id = keyOwnedBy(nodes, 'n3', 'counter');
    await (nodes[0] as ReplicatedStore).set(id, { count: 0 }, { ttlMs: TTL, principal: 'ada' });
    await converged(nodes); // reads are local: n2 sees the session once the owner's change reached it
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        updateSession<{ count: number }>(nodes[i % 3] as ReplicatedStore, id, (d) => ({ count: d.count + 1 }), {
          ttlMs: TTL,
          retries: 500,
        }),
      ),
    );
    await converged(nodes);
    for (const n of nodes)
      expect(await n.get(id)).toMatchObject({ data: { count: 60 }, version: 61, principal: 'ada' });
    // Creates race from every node: exactly one wins.
    const race = keyOwnedBy(nodes, 'n1', 'race');
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (nodes[i % 3] as ReplicatedStore).compareAndSet(race, 0, { writer: i }, { ttlMs: TTL }),
      ),
    );
    expect(results.filter((v) => v === 1)).toHaveLength(1);
    // Destroy on one node removes it everywhere; revoke-all works from any node.
    await (nodes[1] as ReplicatedStore).destroy(race);
    await converged(nodes);
    for (const n of nodes) expect(await n.get(race)).toBeNull();
    for (let i = 0; i < 9; i++)
      await (nodes[i % 3] as ReplicatedStore).set(`u${i}`, { i }, { ttlMs: TTL, principal: 'bob' });
    await converged(nodes);
    expect(await (nodes[2] as ReplicatedStore).destroyByPrincipal('bob')).toBe(9);
    await converged(nodes);
    for (const n of nodes) expect(await n.listByPrincipal('bob')).toEqual([]);
  }, 60_000);

  it('a node joining a running cluster bootstraps from snapshots and misses no write made meanwhile', async () => {
    const [a, b] = (await cluster(['a', 'b'], { snapshotChunkBytes: 2048 })) as [ReplicatedStore, ReplicatedStore];
    for (let i = 0; i < 300; i++)
      await (i % 2 ? a : b).set(`s${i}`, { i, pad: 'x'.repeat(200) }, { ttlMs: TTL, principal: `p${i % 7}` });
    // Writers keep going while c starts, dials, receives snapshots in chunks and catches up.
    let stop = false;
    let written = 0;
    const writers = [a, b].map(async (n, w) => {
      for (let i = 0; !stop && i < 2000; i++) {
        await n.set(`live-${w}-${i}`, { i }, { ttlMs: TTL });
        await updateSession<{ i: number; pad: string }>(n, `s${i % 300}`, (d) => ({ ...d, i: d.i + 1 }), {
          ttlMs: TTL,
          retries: 100,
        });
        written++;
      }
    });
    const c = await node('c', {
      peers: [
        { id: 'a', url: a.url },
        { id: 'b', url: b.url },
      ],
      snapshotChunkBytes: 2048,
    });
    a.setPeers([
      { id: 'b', url: b.url },
      { id: 'c', url: c.url },
    ]);
    b.setPeers([
      { id: 'a', url: a.url },
      { id: 'c', url: c.url },
    ]);
    await c.settled();
    expect(c.ready).toBe(true);
    while (written < 200) await delay(10);
    stop = true;
    await Promise.all(writers);
    const d = await converged([a, b, c]);
    expect(d.entries).toBeGreaterThanOrEqual(300 + 200);
    expect(c.stats.received.messages).toBeGreaterThan(2); // hello + several snapshot chunks + changes
    expect((await c.listByPrincipal('p3')).length).toBe((await a.listByPrincipal('p3')).length);
  }, 60_000);

  it('links cut at random (fault proxy): nothing lost, nothing duplicated, all copies converge, sessions resumed not rebuilt', async () => {
    const seed = chaosSeed();
    const ids = ['x', 'y', 'z'];
    const nodes = await Promise.all(
      ids.map((id) =>
        node(id, { failoverMs: 120_000, link: { heartbeatMs: 500, initialDelayMs: 10, maxDelayMs: 200 } }),
      ),
    );
    const proxies: FaultProxy[] = [];
    for (const [i, from] of nodes.entries()) {
      const peers = [];
      for (const [j, to] of nodes.entries()) {
        if (i === j) continue;
        const port = Number(new URL(to.url).port);
        const proxy = await startFaultProxy({
          target: { host: '127.0.0.1', port },
          seed: seed + i * 3 + j,
          cutEveryMs: [10, 60],
          maxChunk: 64,
        });
        proxies.push(proxy);
        opened.push(proxy);
        peers.push({ id: to.nodeId, url: `tcp://127.0.0.1:${proxy.port}` });
      }
      from.setPeers(peers);
    }
    await Promise.all(nodes.map((n) => n.settled()));
    const sessionsBefore = nodes.map((n) => n.stats.sent.sessions);
    // Every node sets its own keys (plain set: a duplicated request would bump the version twice)
    // and increments shared counters (compare-and-set through each counter's owner).
    const SETS = 120;
    await Promise.all(
      nodes.map(async (n, w) => {
        for (let i = 0; i < SETS; i++) {
          await n.set(`k-${w}-${i % 4}`, { w, i }, { ttlMs: TTL });
          await updateSession<{ c: number }>(n, `counter-${i % 3}`, (d) => ({ c: d.c + 1 }), {
            ttlMs: TTL,
            retries: 1000,
          }).then(async (r) => {
            if (r === null)
              await n.compareAndSet(`counter-${i % 3}`, 0, { c: 1 }, { ttlMs: TTL }).then(async (v) => {
                if (v === null)
                  await updateSession<{ c: number }>(n, `counter-${i % 3}`, (d) => ({ c: d.c + 1 }), {
                    ttlMs: TTL,
                    retries: 1000,
                  });
              });
          });
        }
      }),
    );
    const cuts = proxies.reduce((sum, p) => sum + p.stats.cuts, 0);
    console.info(`replicated store chaos: seed ${seed}, ${cuts} cuts`);
    expect(cuts).toBeGreaterThan(0);
    await converged(nodes);
    for (const n of nodes) {
      for (let w = 0; w < 3; w++)
        for (let k = 0; k < 4; k++) expect((await n.get(`k-${w}-${k}`))?.version).toBe(SETS / 4);
      const total = (
        await Promise.all([0, 1, 2].map(async (c) => (await n.get<{ c: number }>(`counter-${c}`))?.data.c ?? 0))
      ).reduce((x, y) => x + y, 0);
      expect(total).toBe(3 * SETS);
    }
    // The Colloquy sessions under the links resumed across every cut: no link had to start over.
    expect(nodes.map((n) => n.stats.sent.sessions)).toEqual(sessionsBefore);
    expect(nodes.every((n) => n.stats.sent.resets === 0)).toBe(true);
  }, 90_000);

  it('a partition: both sides own the key and accept writes; after healing both settle on the same record', async () => {
    const opts: Partial<ReplicatedStoreOptions> = {
      failoverMs: 200,
      link: { heartbeatMs: 100, resumeWindowMs: 60_000, initialDelayMs: 10, maxDelayMs: 50 },
    };
    const [a, b] = await Promise.all([node('a', opts), node('b', opts)]);
    const toB = await partitionable(Number(new URL(b.url).port));
    const toA = await partitionable(Number(new URL(a.url).port));
    opened.push(toB, toA);
    a.setPeers([{ id: 'b', url: `tcp://127.0.0.1:${toB.port}` }]);
    b.setPeers([{ id: 'a', url: `tcp://127.0.0.1:${toA.port}` }]);
    await Promise.all([a.settled(), b.settled()]);
    await a.set('shared', { side: 'before' }, { ttlMs: TTL });
    await converged([a, b]);
    toA.block();
    toB.block();
    for (let i = 0; i < 500 && !(a.owns('shared') && b.owns('shared')); i++) await delay(20);
    expect(a.owns('shared') && b.owns('shared')).toBe(true); // split brain: each side serves the key
    // Both sides write (and both compare-and-sets succeed: last-writer-wins during a partition, as documented).
    expect(await a.compareAndSet('shared', 1, { side: 'a' }, { ttlMs: TTL })).toBe(2);
    expect(await b.compareAndSet('shared', 1, { side: 'b' }, { ttlMs: TTL })).toBe(2);
    await b.set('only-b', { n: 1 }, { ttlMs: TTL });
    await a.set('only-a', { n: 1 }, { ttlMs: TTL });
    toA.heal();
    toB.heal();
    await converged([a, b]);
    const [onA, onB] = [await a.get('shared'), await b.get('shared')];
    expect(onA).toEqual(onB);
    expect(['a', 'b']).toContain((onA?.data as { side: string }).side);
    expect(await a.get('only-b')).toMatchObject({ data: { n: 1 } });
    expect(await b.get('only-a')).toMatchObject({ data: { n: 1 } });
    // One owner again (bounded wait: both must see each other ready); writes are serialised as before.
    for (let i = 0; i < 500 && a.ownerOf('shared') !== b.ownerOf('shared'); i++) await delay(20);
    expect(a.ownerOf('shared')).toBe(b.ownerOf('shared'));
  }, 60_000);

  it('an owner that dies before its change reached every node: the others re-offer its records, so every node gets the acknowledged write', async () => {
    // x learns of p's end from p's abort at once; heartbeats are slow so that a loaded machine cannot fake a failover earlier.
    const opts: Partial<ReplicatedStoreOptions> = {
      failoverMs: 200,
      link: { heartbeatMs: 5000, resumeWindowMs: 1000, initialDelayMs: 10, maxDelayMs: 50 },
    };
    const [x, y, p] = await Promise.all([node('x', opts), node('y', opts), node('p', opts)]);
    const pToY = await partitionable(Number(new URL(y.url).port));
    opened.push(pToY);
    x.setPeers([
      { id: 'y', url: y.url },
      { id: 'p', url: p.url },
    ]);
    y.setPeers([
      { id: 'x', url: x.url },
      { id: 'p', url: p.url },
    ]);
    p.setPeers([
      { id: 'x', url: x.url },
      { id: 'y', url: `tcp://127.0.0.1:${pToY.port}` },
    ]);
    await Promise.all([x.settled(), y.settled(), p.settled()]);
    const id = keyOwnedBy([x, y, p], 'p', 'orphaned-write');
    pToY.block(); // p's stream to y stalls: what p sends y now waits in p's queue
    expect(await x.set(id, { acknowledged: true }, { ttlMs: TTL })).toBe(1); // p applied it and answered x
    expect(await y.get(id)).toBeNull();
    await p.close(); // ... and dies with the change to y still queued
    await converged([x, y]);
    expect(await y.get(id)).toMatchObject({ data: { acknowledged: true }, version: 1 });
    expect(x.stats.reoffered + y.stats.reoffered).toBeGreaterThan(0);
  }, 60_000);

  it('a node that dies: its keys move to the next owner after failoverMs; restarted, it bootstraps and converges', async () => {
    const nodes = await cluster(['p', 'q', 'r'], {
      failoverMs: 300,
      bootstrapWaitMs: 300,
      link: { heartbeatMs: 200, resumeWindowMs: 1000, initialDelayMs: 10, maxDelayMs: 100 },
    });
    const [p, q, r] = nodes as [ReplicatedStore, ReplicatedStore, ReplicatedStore];
    const id = keyOwnedBy(nodes, 'r', 'orphan');
    await p.set(id, { n: 1 }, { ttlMs: TTL });
    await converged(nodes);
    const rUrl = r.url;
    await r.close();
    // Bounded wait until p and q both route the key elsewhere.
    for (let i = 0; i < 500 && !(p.ownerOf(id) !== 'r' && p.ownerOf(id) === q.ownerOf(id)); i++) await delay(20);
    expect(p.ownerOf(id)).toBe(q.ownerOf(id));
    expect(p.ownerOf(id)).not.toBe('r');
    expect(await q.compareAndSet(id, 1, { n: 2 }, { ttlMs: TTL })).toBe(2);
    for (let i = 0; i < 50; i++) await p.set(`after-${i}`, { i }, { ttlMs: TTL });
    // r comes back (same id, same port, empty memory) and is brought up to date.
    const port = Number(new URL(rUrl).port);
    const back = await node('r', {
      listen: { tcp: { host: '127.0.0.1', port } },
      peers: [
        { id: 'p', url: p.url },
        { id: 'q', url: q.url },
      ],
      failoverMs: 300,
      bootstrapWaitMs: 300,
      link: { heartbeatMs: 200, resumeWindowMs: 1000, initialDelayMs: 10, maxDelayMs: 100 },
    });
    await back.settled();
    await converged([p, q, back]);
    expect(await back.get(id)).toMatchObject({ data: { n: 2 }, version: 2 });
    expect(back.ownerOf(id)).toBe('r');
    expect(await back.compareAndSet(id, 2, { n: 3 }, { ttlMs: TTL })).toBe(3);
    await converged([p, q, back]);
  }, 60_000);

  it('a peer too slow to keep up: its link is reset (bounded queue) and writes never wait for it', async () => {
    // A "peer" that accepts the replication session and never reads: backpressure reaches the store.
    const stuck: Server = await listen({ tcp: { port: 0 }, maxReceiveBufferBytes: 64 * 1024 });
    opened.push({ close: () => stuck.destroy() });
    const a = await node('a', {
      peers: [{ id: 'stuck', url: `tcp://127.0.0.1:${stuck.addresses.tcp}` }],
      bootstrapWaitMs: 100,
      maxQueueBytes: 64 * 1024,
      link: { maxSendQueueBytes: 64 * 1024 },
    });
    const resets: string[] = [];
    a.on('peer', (e) => {
      if (e.reason?.includes('maxQueueBytes')) resets.push(e.reason);
    });
    let maxBacklog = 0;
    for (let i = 0; i < 400 && resets.length === 0; i++) {
      await a.set(`big-${i}`, { pad: 'y'.repeat(20_000) }, { ttlMs: TTL });
      maxBacklog = Math.max(maxBacklog, ...a.peers().map((p) => p.backlogBytes));
    }
    expect(resets.length).toBeGreaterThan(0);
    expect(a.stats.sent.resets).toBeGreaterThan(0);
    expect(maxBacklog).toBeLessThanOrEqual(64 * 1024);
    expect((await a.get('big-0'))?.version).toBe(1);
  }, 60_000);

  it('links over TLS (a private certificate as trust anchor)', async () => {
    const { cert, key } = testCertificate();
    const nodes = await cluster(['t1', 't2'], {
      listen: { tls: { host: '127.0.0.1', port: 0, cert, key } },
      link: { tls: { ca: cert } },
    });
    expect(nodes.every((n) => n.url.startsWith('tls://'))).toBe(true);
    await (nodes[0] as ReplicatedStore).set('secure', { ok: 1 }, { ttlMs: TTL });
    await converged(nodes);
    expect(await (nodes[1] as ReplicatedStore).get('secure')).toMatchObject({ data: { ok: 1 } });
  }, 60_000);

  it('refuses a wrong cluster secret and aborts a peer that sends garbage; the store goes on', async () => {
    const [a] = (await cluster(['a', 'b'])) as [ReplicatedStore, ReplicatedStore];
    await expect(connect(a.url, { credentials: 'wrong', reconnect: false })).rejects.toMatchObject({
      code: 'ERR_REFUSED',
    });
    // A node configured with the wrong secret never joins, and says why.
    const intruder = await node('b', {
      clusterSecret: 'wrong',
      peers: [{ id: 'a', url: a.url }],
      bootstrapWaitMs: 100,
    });
    for (let i = 0; i < 500 && !intruder.peers()[0]?.dialError; i++) await delay(20);
    expect(intruder.peers()[0]).toMatchObject({
      connected: false,
      dialError: expect.stringMatching(/dial failed: .*secret/),
    });
    const errors: string[] = [];
    a.on('protocol-error', (e) => errors.push(`${e.error.code} ${String(e.error.details.reason)}`));
    for (const garbage of ['not json', '{"t":"hello","node":"nobody","ready":true}', '{"t":"snap"}']) {
      const s = await connect(a.url, { credentials: clusterTag('s3cret'), reconnect: false });
      const closed = new Promise((resolve) => s.once('closed', resolve));
      if (garbage === '{"t":"snap"}') {
        // A proper hello as b (answering a's challenge with the secret's proof), then garbage.
        const challenge = JSON.parse(
          new TextDecoder().decode((await s[Symbol.asyncIterator]().next()).value as Uint8Array),
        ) as { c: string };
        await s.send(
          JSON.stringify({
            t: 'hello',
            node: 'b',
            ready: true,
            ...proveHello({ secret: 's3cret' }, 'b', 'a', challenge.c),
          }),
        );
      }
      await s.send(garbage);
      await closed;
    }
    expect(errors).toEqual([
      'ERR_REPLICATION_PROTOCOL not JSON',
      'ERR_CLUSTER_AUTH unknown-node',
      'ERR_REPLICATION_PROTOCOL snap without records',
    ]);
    expect(await a.set('still', { ok: true }, { ttlMs: TTL })).toBe(1);
  }, 60_000);
});
