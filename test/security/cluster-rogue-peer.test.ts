// Finding 3 (issue 11): a rogue client of a replicated store's endpoint says hello as a
// configured peer. Without the proof, with a wrong proof, or (with node keys) as a member that
// knows the cluster secret but not the other node's private key, it is refused with
// ERR_CLUSTER_AUTH before it can supersede the real peer's link or inject a record. A record
// stamped far ahead of the clock is refused (clock-skew) and does not poison the hybrid clock.
// The store refuses to listen beyond loopback without a secret or node key.

import { afterEach, describe, expect, it } from 'vitest';
import { connect, type ClientSession } from '../../src/client/connect.js';
import { clusterTag, generateNodeKey, proveHello } from '../../src/cluster/node-identity.js';
import { privateKeyOf } from '../../src/cluster/node-identity.js';
import type { ReplicationNode } from '../../src/cluster/replication-node.js';
import type { SessionError } from '../../src/engine/errors.js';
import { ReplicatedStore, type ReplicatedStoreOptions } from '../../src/cluster/replicated-store.js';

const TTL = 600_000;
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((x) => x.close()));
});

async function pair(
  extra: (id: string) => Partial<ReplicatedStoreOptions>,
  peerExtra: (id: string) => object = () => ({}),
): Promise<[ReplicatedStore, ReplicatedStore]> {
  const nodes = await Promise.all(
    ['a', 'b'].map((nodeId) =>
      ReplicatedStore.start({ nodeId, clusterSecret: 's3cret', timeoutMs: 10_000, ...extra(nodeId) }),
    ),
  );
  opened.push(...nodes);
  for (const n of nodes) n.setPeers(nodes.map((o) => ({ id: o.nodeId, url: o.url, ...peerExtra(o.nodeId) })));
  await Promise.all(nodes.map((n) => n.settled()));
  return nodes as [ReplicatedStore, ReplicatedStore];
}

async function firstMessage(s: ClientSession): Promise<{ t: string; node: string; c: string }> {
  const next = await s[Symbol.asyncIterator]().next();
  return JSON.parse(new TextDecoder().decode(next.value as Uint8Array)) as { t: string; node: string; c: string };
}

/** Opens a session to `url` as a rogue, says `hello` (built from the challenge), then sends `after`; resolves when the node has closed it. */
async function rogue(url: string, hello: (challenge: string) => object, after: string[] = []): Promise<void> {
  const s = await connect(url, { credentials: clusterTag('s3cret'), reconnect: false, heartbeatMs: 0 });
  const closed = new Promise((resolve) => s.once('closed', resolve));
  const challenge = await firstMessage(s);
  expect(challenge).toMatchObject({ t: 'challenge', node: 'a' });
  await s.send(JSON.stringify(hello(challenge.c)));
  for (const m of after) await s.send(m).catch(() => {});
  await closed;
}

const injected = (rev: number): string =>
  JSON.stringify({
    t: 'up',
    e: ['root-session', JSON.stringify({ principal: 'root' }), 1, 'root', 1, 1, Date.now() + TTL, rev, 'b'],
  });

function watchErrors(a: ReplicatedStore): string[] {
  const errors: string[] = [];
  a.on('protocol-error', (e: { error: SessionError }) =>
    errors.push(`${e.error.code} ${String(e.error.details.reason)}`),
  );
  return errors;
}

async function linkStillWorks(a: ReplicatedStore, b: ReplicatedStore, key: string): Promise<void> {
  expect(a.peers()[0]).toMatchObject({ id: 'b', connected: true, ready: true });
  await b.set(key, { ok: 1 }, { ttlMs: TTL });
  for (let i = 0; i < 500 && !(await a.get(key)); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await a.get(key)).toMatchObject({ data: { ok: 1 } });
}

describe('replicated store: a rogue peer (finding 3)', () => {
  it('a hello as b without a proof, or with a wrong one, is refused (ERR_CLUSTER_AUTH); nothing is injected and the real link goes on', async () => {
    const [a, b] = await pair(() => ({}));
    const errors = watchErrors(a);
    await rogue(a.url, () => ({ t: 'hello', node: 'b', ready: true }), [injected(Date.now() * 1000 + 5)]);
    await rogue(
      a.url,
      (c) => ({ t: 'hello', node: 'b', ready: true, ...proveHello({ secret: 'not-the-secret' }, 'b', 'a', c) }),
      [injected(Date.now() * 1000 + 5)],
    );
    // A proof made for another challenge (a recorded hello) is worth nothing either.
    await rogue(
      a.url,
      () => ({ t: 'hello', node: 'b', ready: true, ...proveHello({ secret: 's3cret' }, 'b', 'a', 'x'.repeat(43)) }),
      [injected(Date.now() * 1000 + 5)],
    );
    expect(errors).toEqual(['ERR_CLUSTER_AUTH bad-proof', 'ERR_CLUSTER_AUTH bad-proof', 'ERR_CLUSTER_AUTH bad-proof']);
    expect(await a.get('root-session')).toBeNull();
    await linkStillWorks(a, b, 'after-rogue');
  }, 60_000);

  it('with node keys, a member holding the cluster secret cannot speak for another node', async () => {
    const keys = { a: generateNodeKey(), b: generateNodeKey(), c: generateNodeKey() };
    const [a, b] = await pair(
      (id) => ({ nodeKey: keys[id as 'a' | 'b'].privateKey }),
      (id) => ({ publicKey: keys[id as 'a' | 'b'].publicKey }),
    );
    const errors = watchErrors(a);
    // c knows the secret (a valid mac) and signs with its own key, claiming to be b.
    await rogue(
      a.url,
      (c) => ({
        t: 'hello',
        node: 'b',
        ready: true,
        ...proveHello({ secret: 's3cret', privateKey: privateKeyOf(keys.c.privateKey) }, 'b', 'a', c),
      }),
      [injected(Date.now() * 1000 + 5)],
    );
    // ... or leaves the signature out.
    await rogue(
      a.url,
      (c) => ({ t: 'hello', node: 'b', ready: true, ...proveHello({ secret: 's3cret' }, 'b', 'a', c) }),
      [injected(Date.now() * 1000 + 5)],
    );
    expect(errors).toEqual(['ERR_CLUSTER_AUTH bad-proof', 'ERR_CLUSTER_AUTH bad-proof']);
    expect(await a.get('root-session')).toBeNull();
    await linkStillWorks(a, b, 'after-member');
  }, 60_000);

  it('a record stamped far ahead of the clock is refused (clock-skew) and does not move the hybrid clock', async () => {
    const [a, b] = await pair(() => ({ maxClockSkewMs: 5000 }));
    const errors = watchErrors(a);
    // The sender here proves b's identity (a faulty or compromised member); the stamp is still refused.
    const huge = 2 ** 52;
    await rogue(
      a.url,
      (c) => ({ t: 'hello', node: 'b', ready: true, ...proveHello({ secret: 's3cret' }, 'b', 'a', c) }),
      [injected(huge)],
    );
    expect(errors).toEqual(['ERR_REPLICATION_PROTOCOL clock-skew']);
    expect(await a.get('root-session')).toBeNull();
    // a's own next write is stamped by its real clock, so b's later writes still win in order.
    await a.set('mine', { n: 1 }, { ttlMs: TTL });
    const record = (a as unknown as { node: ReplicationNode }).node.state.snapshot().find((r) => r.id === 'mine');
    expect(record?.rev).toBeLessThan((Date.now() + 5000) * 1000);
    // The real b redials (its inbound session was superseded by the proven hello) and the link works.
    for (let i = 0; i < 500 && !(a.peers()[0]?.connected && a.peers()[0]?.ready); i++)
      await new Promise((r) => setTimeout(r, 10));
    await linkStillWorks(a, b, 'after-skew');
  }, 60_000);

  it('refuses to listen beyond loopback without a secret or node key', async () => {
    await expect(
      ReplicatedStore.start({ nodeId: 'x', listen: { tcp: { host: '0.0.0.0', port: 0 } } }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('clusterSecret') });
    const ok = await ReplicatedStore.start({
      nodeId: 'y',
      listen: { tcp: { host: '0.0.0.0', port: 0 } },
      clusterSecret: 's3cret',
    });
    opened.push(ok);
    const local = await ReplicatedStore.start({ nodeId: 'z' }); // loopback, no secret: the friendly default
    opened.push(local);
  });
});
