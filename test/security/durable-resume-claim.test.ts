// Finding 4 (issue 11): a session ID alone must not end a durable session. Two servers share one
// real Redis; a client's session lives on node 1. An attacker who knows only the session ID sends
// RESUME to node 2 (which would restore the session from the store): it is refused with
// wrongSecret BEFORE any claim, node 1 keeps the session, and the client's traffic still flows.
// The store holds a hash of the resume secret, never the secret.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { ClientSession } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { ResumeRefuseReason } from '../../src/engine/frames.js';
import { hashResumeSecret } from '../../src/server/durable.js';
import { listen, type Server } from '../../src/server/server.js';
import { RedisStore } from '../../src/store/redis-store.js';
import { skipWithout, startRedis, type RedisServer } from '../support/redis.js';
import { forwarder } from '../support/forwarder.js';
import { rawPeer } from './raw-peer.js';

const skip = skipWithout('redis-server', 'durable resume claim (security)', 'apt-get install redis-server');

describe.skipIf(skip)('durable sessions: RESUME with only a session ID (finding 4)', () => {
  let redis: RedisServer;
  const stores: RedisStore[] = [];
  const servers: Server[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  }, 60_000);
  afterAll(async () => {
    for (const s of servers.splice(0)) await s.destroy();
    for (const s of stores.splice(0)) await s.close();
    await redis?.stop();
  });

  it('is refused as wrongSecret on the other node, which claims nothing; the owner keeps the session', async () => {
    const prefix = `sec${process.pid}x${Math.random().toString(36).slice(2, 8)}:`;
    const storeFor = (): RedisStore => {
      const s = new RedisStore({ url: redis.url, prefix });
      stores.push(s);
      return s;
    };
    const node1 = await listen({ tcp: { port: 0 }, heartbeatMs: 0, durability: { store: storeFor() } });
    const node2 = await listen({ tcp: { port: 0 }, heartbeatMs: 0, durability: { store: storeFor() } });
    servers.push(node1, node2);
    const echoing = (s: Session): void => {
      void (async () => {
        for await (const m of s) await s.send(m);
      })().catch(() => {});
    };
    node1.on('session', echoing);
    const restored: string[] = [];
    node2.on('session', (s) => {
      restored.push(s.id);
      echoing(s);
    });

    const lb = await forwarder(node1.addresses.tcp as number);
    const client: ClientSession = await connect(`tcp://127.0.0.1:${lb.port}`, {
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
    });
    const echo = async (text: string): Promise<string> => {
      await client.send(new TextEncoder().encode(text));
      for await (const m of client) return new TextDecoder().decode(m);
      throw new Error('session ended');
    };
    expect(await echo('before')).toBe('before');

    // The store holds the secret's hash, not the secret.
    const reader = storeFor();
    const head = await reader.get<{ snapshot: Record<string, unknown> }>(`colloquy:rt:${client.id}`);
    const secret = client.machine.resumeSecret as Uint8Array;
    expect(head?.data.snapshot.resumeSecret).toBeUndefined();
    expect(head?.data.snapshot.secretHash).toBe(hashResumeSecret(secret));
    expect(JSON.stringify(head?.data)).not.toContain(Buffer.from(secret).toString('base64'));
    const versionBefore = head?.version;

    // The attack: the session ID with a wrong secret, at the node that does not hold it.
    const attacker = await rawPeer(node2.addresses.tcp as number);
    attacker.send({
      type: 'RESUME',
      sessionId: new Uint8Array(Buffer.from(client.id, 'hex')),
      resumeSecret: new Uint8Array(randomBytes(16)),
      received: 0,
    });
    const answer = await attacker.next();
    expect(answer).toMatchObject({ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.wrongSecret });
    await attacker.closed();

    // Nothing was claimed: node 2 holds nothing, and the owner's next writes over its own version
    // succeed (after a claim they would fail with ERR_STORE_CONFLICT and end the session).
    expect(restored).toEqual([]);
    expect(node2.sessions.has(client.id)).toBe(false);
    expect(await echo('after')).toBe('after');
    expect((await reader.get(`colloquy:rt:${client.id}`))?.version).toBeGreaterThan(versionBefore as number);
    expect(node1.sessions.has(client.id)).toBe(true);

    // Legitimate use: the real secret resumes on node 2 (the client's node died).
    lb.switchTo(node2.addresses.tcp as number);
    lb.cutAll();
    expect(await echo('moved')).toBe('moved');
    expect(restored).toEqual([client.id]);
    await client.release();
    await lb.close();
  }, 60_000);
});
