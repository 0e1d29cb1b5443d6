// Sticky sessions behind a real HAProxy running deploy/haproxy.cfg as shipped (addresses
// changed only). Three Colloquy nodes, each its own process serving HTTP (/whoami, /healthz)
// and the WebSocket endpoint /session on one port.
//
//   - stickiness: a first request gets the COLLOQUY_NODE cookie; every later request and the
//     WebSocket upgrade carrying it reach the same node, and another node's cookie reaches that
//     node;
//   - memory store: when the sticky node dies (SIGKILL), the client's redial lands on another
//     node, which has never heard of the session: `resume-failed` with reason unknown, then
//     `closed` with ERR_RESUME_REFUSED;
//   - Redis durability: the same kill, and the session resumes on another node with nothing
//     lost or duplicated, both ways.
//
// Why the Redis case freezes the node before killing it: the echo service's reply is a second
// write after the message's receipt is stored, so a kill between the two would leave a message
// received with no reply (the application's own step, not the session's; docs/stores.md). The
// node is stopped (SIGSTOP) once it has answered everything, the client then sends more (those
// bytes reach the node's socket but it never reads them), and the node is killed: the client
// must replay them to the node that takes over.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionError } from '../../src/engine/errors.js';
import { ResumeRefuseReason } from '../../src/engine/frames.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { COOKIE, openSession, whoami } from './client.js';
import { HAPROXY, skipWithoutBinary, startHaproxy, startNode } from './lb.js';
import type { Balancer, Node } from './lb.js';

const skip =
  skipWithoutBinary(HAPROXY, 'haproxy', 'HAProxy sticky-session tests', 'apt-get install haproxy') ||
  skipWithout('redis-server', 'HAProxy sticky-session tests', 'apt-get install redis-server');

const nodeOf = (reply: string): string => reply.slice(0, reply.indexOf(' '));
const textOf = (reply: string): string => reply.slice(reply.indexOf(' ') + 1);

describe.skipIf(skip)('sticky sessions behind HAProxy (deploy/haproxy.cfg)', () => {
  let redis: RedisServer | undefined;
  const started: Node[] = [];
  const balancers: Balancer[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterAll(async () => {
    for (const lb of balancers) await lb.stop();
    for (const n of started) await n.kill();
    await redis?.stop();
  });

  async function cluster(store: string): Promise<{ nodes: Node[]; lb: Balancer }> {
    const nodes = await Promise.all(['node1', 'node2', 'node3'].map((name) => startNode(name, store)));
    started.push(...nodes);
    const lb = await startHaproxy(nodes);
    balancers.push(lb);
    return { nodes, lb };
  }

  it('memory store: stickiness holds for HTTP and WebSocket; the sticky node dies and the session is lost with resume-failed (unknown)', async () => {
    const { nodes, lb } = await cluster('memory');
    // New clients are balanced (round robin): three cookie-less requests reach three nodes.
    const fresh = await Promise.all([whoami(lb), whoami(lb), whoami(lb)]);
    expect(new Set(fresh.map((f) => f.node)).size).toBeGreaterThan(1);
    for (const f of fresh) expect(f.setCookie).toBe(`${COOKIE}=${f.node}`);

    const first = fresh[0] as { node: string; setCookie: string };
    const sticky = first.node;
    for (let i = 0; i < 10; i++) {
      const again = await whoami(lb, first.setCookie);
      expect(again.node).toBe(sticky);
      expect(again.setCookie).toBeNull(); // a valid cookie is not set again (insert indirect)
    }

    // The WebSocket upgrade with the cookie reaches the same node; another node's cookie, that node.
    const a = await openSession(lb, first.setCookie);
    const other = nodes.find((n) => n.name !== sticky) as Node;
    const b = await openSession(lb, `${COOKIE}=${other.name}`);
    for (let i = 0; i < 20; i++) {
      await a.client.send(`a${i}`);
      await b.client.send(`b${i}`);
    }
    await Promise.all([a.waitFor(20), b.waitFor(20)]);
    expect(a.replies).toEqual(Array.from({ length: 20 }, (_, i) => `${sticky} a${i}`));
    expect(b.replies).toEqual(Array.from({ length: 20 }, (_, i) => `${other.name} b${i}`));

    // The sticky node dies. The redial lands on another node, which does not know the session.
    const failed = new Promise<SessionError>((resolve) => a.client.on('resume-failed', resolve));
    const closed = new Promise<SessionError | undefined>((resolve) =>
      a.client.on('closed', ({ error }) => resolve(error)),
    );
    await (nodes.find((n) => n.name === sticky) as Node).kill();
    const refusal = await failed;
    expect(refusal.code).toBe('ERR_RESUME_REFUSED');
    expect(refusal.details).toMatchObject({ reason: ResumeRefuseReason.unknown });
    expect((await closed)?.code).toBe('ERR_RESUME_REFUSED');

    // The other session never noticed; HTTP with the dead node's cookie is redispatched and re-stuck.
    await b.client.send('still here');
    await b.waitFor(21);
    expect(b.replies[20]).toBe(`${other.name} still here`);
    const moved = await whoami(lb, first.setCookie);
    expect(moved.node).not.toBe(sticky);
    expect(moved.setCookie).toBe(`${COOKIE}=${moved.node}`);
    expect((await whoami(lb, moved.setCookie as string)).node).toBe(moved.node);
    await b.client.release();
  }, 90_000);

  it('Redis durability: the sticky node is killed with data in flight; the session resumes on another node with nothing lost or duplicated', async () => {
    const { nodes, lb } = await cluster((redis as RedisServer).url);
    const { node: sticky, setCookie } = await whoami(lb);
    const s = await openSession(lb, setCookie as string);
    let resumed = 0;
    s.client.on('resumed', () => {
      resumed++;
    });
    const victim = nodes.find((n) => n.name === sticky) as Node;

    for (let i = 0; i < 100; i++) await s.client.send(`m${i}`);
    await s.waitFor(100);
    victim.child.kill('SIGSTOP');
    for (let i = 100; i < 150; i++) await s.client.send(`m${i}`); // reach the frozen node's socket, never read
    await victim.kill();
    for (let i = 150; i < 200; i++) await s.client.send(`m${i}`); // queued while the client redials
    await s.waitFor(200);

    expect(s.replies.map(textOf)).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    const served = s.replies.map(nodeOf);
    expect(served.slice(0, 100).every((n) => n === sticky)).toBe(true);
    const successor = served[100] as string;
    expect(successor).not.toBe(sticky);
    expect(served.slice(100).every((n) => n === successor)).toBe(true);
    expect(resumed).toBe(1);
    await s.client.send('after');
    await s.waitFor(201);
    expect(s.replies[200]).toBe(`${successor} after`);
    await expect(s.client.release()).resolves.toBe(true);
  }, 90_000);
});
