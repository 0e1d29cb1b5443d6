// PostgresBus against the machine's PostgreSQL: topics delivered only to their subscribers,
// messages of many NOTIFY parts joined whole, one publisher's order kept, a throwing handler
// isolated; an outage (the server cut off behind a proxy): publish and subscribe fail with
// ERR_BUS_UNAVAILABLE within the timeout, and once it is back the LISTEN connection is made again
// with every topic listened to. Also `serve --store postgres://` parsing (schema option, errors).
//
// Without PostgreSQL: skipped with a loud notice outside CI, run (and failing) under CI=true.

import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresBus } from '../../src/cluster/postgres-bus.js';
import { parseStoreSpec, redact } from '../../src/serve/backing.js';
import { POSTGRES_URL, skipWithoutPostgres } from '../support/postgres.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const SKIP = await skipWithoutPostgres('test/cluster/postgres-bus.test.ts');
const enc = new TextEncoder();
const dec = new TextDecoder();
const prefix = `t${process.pid}${Math.random().toString(36).slice(2, 6)}:`;

/** Resolves with the first `count` messages `bus` hears on `topic`. */
async function collect(
  bus: PostgresBus,
  topic: string,
  count: number,
): Promise<{ messages: Uint8Array[]; done: Promise<Uint8Array[]>; off: () => Promise<void> }> {
  const messages: Uint8Array[] = [];
  let resolve!: (m: Uint8Array[]) => void;
  const done = new Promise<Uint8Array[]>((r) => {
    resolve = r;
  });
  const off = await bus.subscribe(topic, (m) => {
    messages.push(m);
    if (messages.length === count) resolve(messages);
  });
  return { messages, done, off };
}

describe('serve --store postgres:// parsing', () => {
  it('takes postgres:// and postgresql:// URLs; ?schema= is ours and leaves the URL', () => {
    expect(parseStoreSpec('postgres://u@h:5432/db')).toEqual({
      kind: 'postgres',
      url: 'postgres://u@h:5432/db',
      schema: 'public',
    });
    expect(parseStoreSpec('postgresql://u:pw@h/db?schema=app_1&sslmode=require')).toEqual({
      kind: 'postgres',
      url: 'postgresql://u:pw@h/db?sslmode=require',
      schema: 'app_1',
    });
    expect(() => parseStoreSpec('postgres://h/db?schema=Bad-Name')).toThrow(/lower-case SQL identifier/);
    expect(() => parseStoreSpec('mysql://h/db')).toThrow(/postgres:\/\//);
    expect(redact('postgres://u:secret@h/db')).not.toContain('secret');
  });
});

describe.skipIf(SKIP)('postgres bus', () => {
  const buses: PostgresBus[] = [];
  const bus = (options: Partial<ConstructorParameters<typeof PostgresBus>[0]> = {}): PostgresBus => {
    const b = new PostgresBus({ connectionString: POSTGRES_URL, prefix, ...options } as ConstructorParameters<
      typeof PostgresBus
    >[0]);
    buses.push(b);
    return b;
  };
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
  }, 30_000);

  it("delivers a topic to its subscribers on every node (the publisher's too), and only that topic", async () => {
    const [a, b] = [bus(), bus()];
    const onA = await collect(a, 'room:x', 2);
    const onB = await collect(b, 'room:x', 2);
    const other = await collect(b, 'room:y', 1);
    await a.publish('room:x', enc.encode('one'));
    await b.publish('room:x', enc.encode('two'));
    for (const got of [await onA.done, await onB.done])
      expect(got.map((m) => dec.decode(m)).sort()).toEqual(['one', 'two']);
    await delay(100);
    expect(other.messages).toEqual([]);
    // Unsubscribed: nothing more arrives.
    await onB.off();
    await a.publish('room:x', enc.encode('three'));
    await delay(200);
    expect(onB.messages).toHaveLength(2);
  });

  it("joins messages sent in many NOTIFY parts, up to maxMessageBytes, and keeps one publisher's order", async () => {
    const [a, b] = [bus({ maxMessageBytes: 200_000 }), bus({ maxMessageBytes: 200_000 })];
    const sizes = [0, 1, 5699, 5700, 5701, 20_000, 200_000, 3];
    const sent = sizes.map((n) => new Uint8Array(randomBytes(n)));
    const got = await collect(b, 'big', sent.length);
    await Promise.all(sent.map((m) => a.publish('big', m)));
    const received = await got.done;
    expect(received.map((m) => Buffer.from(m).toString('hex'))).toEqual(
      sent.map((m) => Buffer.from(m).toString('hex')),
    );
    await expect(a.publish('big', new Uint8Array(200_001))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('a handler that throws is reported and does not disturb the others', async () => {
    const b = bus();
    const errors: unknown[] = [];
    b.on('handler-error', ({ error }) => errors.push(error));
    await b.subscribe('h', () => {
      throw new Error('boom');
    });
    const good = await collect(b, 'h', 1);
    await b.publish('h', enc.encode('x'));
    expect(dec.decode((await good.done)[0])).toBe('x');
    expect(errors).toHaveLength(1);
  });

  it('an outage: publish fails with ERR_BUS_UNAVAILABLE in time; once back, subscriptions are listened again', async () => {
    const proxy = await startTcpProxy(Number(new URL(POSTGRES_URL).port || 5432));
    const viaProxy = POSTGRES_URL.replace(/@[^/]+\//, `@127.0.0.1:${proxy.port}/`);
    const cut = bus({ connectionString: viaProxy, timeoutMs: 400 });
    const direct = bus();
    try {
      const heard: string[] = [];
      await cut.subscribe('o', (m) => heard.push(dec.decode(m)));
      const downs: string[] = [];
      cut.on('down', ({ cause }) => downs.push(cause));
      const ready = new Promise<void>((resolve) => cut.once('ready', () => resolve()));
      proxy.set('down');
      const t0 = Date.now();
      await expect(cut.publish('o', enc.encode('lost'))).rejects.toMatchObject({ code: 'ERR_BUS_UNAVAILABLE' });
      expect(Date.now() - t0).toBeLessThan(400 + 300);
      proxy.set('up');
      await Promise.race([
        ready,
        delay(10_000).then(() => {
          throw new Error('the LISTEN connection was not made again within 10 s');
        }),
      ]);
      expect(downs.length).toBeGreaterThan(0);
      await direct.publish('o', enc.encode('after'));
      for (let i = 0; i < 100 && !heard.includes('after'); i++) await delay(20);
      expect(heard).toEqual(['after']);
    } finally {
      proxy.set('up');
      await proxy.close();
    }
  }, 30_000);
});
