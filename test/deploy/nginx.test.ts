// Sticky sessions behind a real open-source nginx running deploy/nginx.conf as shipped
// (addresses changed only), in front of three Colloquy node processes with Redis durability:
// the cookie map holds HTTP requests and the WebSocket upgrade on one node; when that node is
// killed, the backup servers of its upstream group take the redial, the session resumes there,
// and the response re-sticks the client to the node that answered.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { openSession, whoami } from './client.js';
import { NGINX, skipWithoutBinary, startNginx, startNode } from './lb.js';
import type { Balancer, Node } from './lb.js';

const skip =
  skipWithoutBinary(NGINX, 'nginx', 'nginx sticky-session test', 'apt-get install nginx-light') ||
  skipWithout('redis-server', 'nginx sticky-session test', 'apt-get install redis-server');

describe.skipIf(skip)('sticky sessions behind nginx (deploy/nginx.conf)', () => {
  let redis: RedisServer | undefined;
  let nodes: Node[] = [];
  let lb: Balancer | undefined;
  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all(['node1', 'node2', 'node3'].map((name) => startNode(name, (redis as RedisServer).url)));
    lb = await startNginx(nodes);
  }, 60_000);
  afterAll(async () => {
    await lb?.stop();
    for (const n of nodes) await n.kill();
    await redis?.stop();
  });

  it('cookie stickiness for HTTP and WebSocket; the sticky node dies and the session resumes on its backup', async () => {
    const balancer = lb as Balancer;
    const fresh = await Promise.all([whoami(balancer), whoami(balancer), whoami(balancer)]);
    expect(new Set(fresh.map((f) => f.node)).size).toBeGreaterThan(1);
    for (const f of fresh) expect(f.setCookie).toBe(`COLLOQUY_NODE=${f.node}`);
    const { node: sticky, setCookie } = fresh[0] as { node: string; setCookie: string };
    for (let i = 0; i < 10; i++) expect((await whoami(balancer, setCookie)).node).toBe(sticky);

    const s = await openSession(balancer, setCookie);
    let resumed = 0;
    s.client.on('resumed', () => {
      resumed++;
    });
    for (let i = 0; i < 50; i++) await s.client.send(`m${i}`);
    await s.waitFor(50);
    expect(s.replies.every((r) => r.startsWith(`${sticky} `))).toBe(true);

    await (nodes.find((n) => n.name === sticky) as Node).kill();
    for (let i = 50; i < 100; i++) await s.client.send(`m${i}`);
    await s.waitFor(100);
    expect(s.replies.map((r) => r.slice(r.indexOf(' ') + 1))).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    const successor = (s.replies[99] as string).split(' ')[0] as string;
    expect(successor).not.toBe(sticky);
    expect(resumed).toBe(1);

    // HTTP with the dead node's cookie goes to the backup, which re-sticks the client to itself.
    const moved = await whoami(balancer, setCookie);
    expect(moved.node).not.toBe(sticky);
    expect(moved.setCookie).toBe(`COLLOQUY_NODE=${moved.node}`);
    await expect(s.client.release()).resolves.toBe(true);
  }, 90_000);
});
