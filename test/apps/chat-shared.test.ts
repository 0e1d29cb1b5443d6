// Chat across nodes on a shared store (chatService({ shared })): the room log delivers every
// message once and in order to a member whose session moved to another node while no node held
// it; nicks and the half-duplex floor are held across nodes; the log is trimmed by its bound and
// by what every node's members acknowledged. In-process nodes (listen() + ServiceHost + chat) on
// one store and one LocalBus; the same cases over PostgreSQL and Redis when they are reachable.

import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import type { ChatMessage } from '../../src/apps/chat-client.js';
import type { ChatMessage as LoggedMessage } from '../../src/apps/chat-protocol.js';
import { LocalBus } from '../../src/cluster/bus.js';
import { RoomLog, SAID_KEYS } from '../../src/apps/chat-log.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { RedisStore } from '../../src/store/redis-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { startChatServer } from './fixtures/chat-server.js';
import type { ChatServer } from './fixtures/chat-server.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';
import { POSTGRES_URL, dropSchemas, freshSchema, postgresReachable } from '../support/postgres.js';
import { freePort, have, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});
const schemas: string[] = [];
let redis: RedisServer | undefined;
afterAll(async () => {
  await dropSchemas(schemas).catch(() => undefined);
  await redis?.stop();
});

const POSTGRES = await postgresReachable();
const REDIS = have('redis-server');

async function storeOf(kind: string): Promise<SessionStore> {
  let store: SessionStore;
  if (kind === 'memory') store = new MemoryStore();
  else if (kind === 'postgres') {
    const schema = freshSchema('chat');
    schemas.push(schema);
    store = new PostgresStore({ connectionString: POSTGRES_URL, schema });
  } else {
    redis ??= await startRedis();
    store = new RedisStore({ url: redis.url, prefix: `chat-shared-${Math.random().toString(36).slice(2)}` });
  }
  closers.push(() => store.close());
  return store;
}

interface Nodes {
  store: SessionStore;
  bus: LocalBus;
  node(id: string): Promise<ChatServer>;
}

async function nodes(kind: string): Promise<Nodes> {
  const store = await storeOf(kind);
  const bus = new LocalBus();
  return {
    store,
    bus,
    node: async (id) => {
      const s = await startChatServer(
        { bus, nodeId: id, presenceIntervalMs: 200, shared: { store } },
        { durability: { store }, heartbeatMs: 0 },
      );
      closers.push(() => s.close());
      return s;
    },
  };
}

async function join(
  url: string,
  nick: string,
  extra: Parameters<typeof ChatClient.connect>[1] = {},
): Promise<ChatClient> {
  const c = await ChatClient.connect(url, {
    nick,
    room: 'lobby',
    heartbeatMs: 0,
    reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
    ...extra,
  });
  closers.push(async () => c.abort());
  return c;
}

/** Resolves when `check` holds, re-checked on the client's events and every 50 ms; rejects after `ms`. */
function until(c: ChatClient, check: () => boolean, what: string, ms = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): boolean => {
      if (!check()) return false;
      clearInterval(poll);
      clearTimeout(limit);
      for (const off of offs) off();
      resolve();
      return true;
    };
    const offs = (['message', 'join', 'leave', 'presence', 'turn', 'resumed'] as const).map((e) =>
      c.on(e, () => {
        done();
      }),
    );
    const poll = setInterval(done, 50);
    const limit = setTimeout(() => {
      clearInterval(poll);
      for (const off of offs) off();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    done();
  });
}

function lines(c: ChatClient): ChatMessage[] {
  const got: ChatMessage[] = [];
  c.on('message', (m) => {
    if (!m.history) got.push(m);
  });
  return got;
}

async function forwarderTo(target: () => number): Promise<Forwarder> {
  const f = await forwarder(target);
  closers.push(() => f.close());
  return f;
}

const STORES = ['memory', ...(POSTGRES ? ['postgres'] : []), ...(REDIS ? ['redis'] : [])];

describe.each(STORES)('chat across nodes on a shared %s store', (kind) => {
  it('a member whose node stopped gets every line said while no node held it, once and in order, on the next node', async () => {
    const n = await nodes(kind);
    const n1 = await n.node('n1');
    const n2 = await n.node('n2');
    const dead = await freePort(); // nothing listens there: the member's node is gone
    let target = n1.server.addresses.tcp as number;
    const lb = await forwarderTo(() => target);
    const ada = await join(`tcp://127.0.0.1:${lb.port}`, 'ada');
    const a = lines(ada);
    const bob = await join(n2.tcp, 'bob');
    const b = lines(bob);
    await until(ada, () => ada.members.includes('bob'), "bob in ada's list");
    for (let i = 0; i < 5; i++) await bob.send(`before ${i}`);
    await until(ada, () => a.length === 5, 'the first five lines at ada');
    // ada's node hands its sessions over and goes; nobody holds ada's session while bob talks.
    target = dead;
    lb.cutAll();
    await n1.server.close({ mode: 'handover', timeoutMs: 5000 });
    for (let i = 0; i < 40; i++) await bob.send(`while away ${i}`);
    await until(bob, () => b.length === 45, "bob's own lines back");
    target = n2.server.addresses.tcp as number;
    await until(ada, () => a.length >= 45, 'every line at ada after the move');
    await ada.send('back');
    await until(bob, () => b.some((m) => m.text === 'back'), "ada's line at bob");
    const want = [
      ...Array.from({ length: 5 }, (_, i) => `before ${i}`),
      ...Array.from({ length: 40 }, (_, i) => `while away ${i}`),
      'back',
    ];
    await until(ada, () => a.length === 46, "ada's own line back");
    expect(a.map((m) => m.text)).toEqual(want);
    expect(b.map((m) => m.text)).toEqual(want);
    expect(a.map((m) => m.id)).toEqual(b.map((m) => m.id));
    expect(n2.server.sessions.has(ada.session.id)).toBe(true);
  }, 60_000);

  it('a member that said more than the log remembers while no node held it: each line logged once on the next node', async () => {
    const n = await nodes(kind);
    const n1 = await n.node('n1');
    const n2 = await n.node('n2');
    const dead = await freePort();
    let target = n1.server.addresses.tcp as number;
    const lb = await forwarderTo(() => target);
    const ada = await join(`tcp://127.0.0.1:${lb.port}`, 'ada');
    const bob = await join(n2.tcp, 'bob');
    const b = lines(bob);
    await until(ada, () => ada.members.includes('bob'), "bob in ada's list");
    await ada.send('before');
    await until(bob, () => b.length === 1, "ada's first line at bob");
    target = dead;
    lb.cutAll();
    await n1.server.close({ mode: 'handover', timeoutMs: 5000 });
    // Queued in ada's session while no node holds it: the session carries them to the next node,
    // and the room log must not log them again when ada's client sends again what never came back.
    const N = SAID_KEYS + 60;
    const sent = Array.from({ length: N }, (_, i) => ada.send(`away ${i}`));
    target = n2.server.addresses.tcp as number;
    await Promise.all(sent);
    await until(bob, () => b.length >= N + 1, "every line of ada's at bob");
    await ada.send('last');
    await until(bob, () => b.some((m) => m.text === 'last'), "ada's last line at bob");
    expect(b.map((m) => m.text)).toEqual(['before', ...Array.from({ length: N }, (_, i) => `away ${i}`), 'last']);
  }, 60_000);

  it('a member moved while its old node still runs and the room keeps talking: every line once, in order', async () => {
    const n = await nodes(kind);
    const n1 = await n.node('n1');
    const n2 = await n.node('n2');
    let target = n1.server.addresses.tcp as number;
    const lb = await forwarderTo(() => target);
    const ada = await join(`tcp://127.0.0.1:${lb.port}`, 'ada');
    const a = lines(ada);
    const bob = await join(n2.tcp, 'bob');
    await until(ada, () => ada.members.includes('bob'), "bob in ada's list");
    const N = 60;
    const talking = (async () => {
      for (let i = 0; i < N; i++) {
        await bob.send(`line ${i}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await until(ada, () => a.length >= 10, 'some lines at ada');
    const resumed = new Promise((resolve) => ada.session.once('resumed', resolve));
    target = n2.server.addresses.tcp as number;
    lb.cutAll();
    await talking;
    await resumed;
    await until(ada, () => a.length >= N, 'every line at ada');
    await new Promise((r) => setTimeout(r, 300)); // a doubled line would arrive meanwhile
    expect(a.map((m) => m.text)).toEqual(Array.from({ length: N }, (_, i) => `line ${i}`));
    expect(n2.server.sessions.has(ada.session.id)).toBe(true);
  }, 60_000);

  it('nicks are unique across nodes, even when two nodes hand out the same nick at the same instant', async () => {
    const n = await nodes(kind);
    const n1 = await n.node('n1');
    const n2 = await n.node('n2');
    const [x, y] = await Promise.all([join(n1.tcp, 'cat'), join(n2.tcp, 'cat')]);
    expect([x.nick, y.nick].sort()).toEqual(['cat', 'cat-2']);
    const z = await join(n1.ws, 'cat');
    expect(z.nick).toBe('cat-3');
    await x.close();
    await until(z, () => !z.members.includes(x.nick), 'the first cat gone');
    for (let i = 0; i < 200 && (await n.store.get(`colloquy:chat:nick:lobby:${x.nick}`)); i++)
      await new Promise((r) => setTimeout(r, 50));
    const w = await join(n2.tcp, 'cat');
    expect(w.nick).toBe(x.nick); // freed when its member left
  }, 60_000);

  it('a half-duplex room has one floor across nodes: a member on another node waits for it', async () => {
    const n = await nodes(kind);
    const n1 = await n.node('n1');
    const n2 = await n.node('n2');
    const ada = await join(n1.tcp, 'ada', { halfDuplex: true });
    const bob = await join(n2.tcp, 'bob', { halfDuplex: true });
    const a = lines(ada);
    const b = lines(bob);
    let both = 0;
    const check = (): void => {
      if (ada.hasTurn && bob.hasTurn) both++;
    };
    for (const c of [ada, bob]) c.on('turn', check);
    await ada.send('a0');
    expect(ada.hasTurn).toBe(true);
    // bob asks; node 2 must not grant while ada (node 1) holds the floor: ada gives it back first.
    const said: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) {
      said.push(bob.send(`b${i}`), ada.send(`a${i + 1}`));
    }
    await Promise.all(said);
    await until(ada, () => a.length === 11, 'every line at ada');
    await until(bob, () => b.length === 11, 'every line at bob');
    expect(both).toBe(0);
    for (const got of [a, b]) {
      expect(got.filter((m) => m.from === 'ada').map((m) => m.text)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
      expect(got.filter((m) => m.from === 'bob').map((m) => m.text)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    }
    expect(a.map((m) => m.id)).toEqual(b.map((m) => m.id));
  }, 60_000);
});

describe('the room log', () => {
  const message = (i: number): LoggedMessage => ({ id: `m${i}`, room: 'r', from: 'ada', text: `t${i}`, ts: i });

  it('numbers appends from every node in one order, keeps at most its bound, and reads what is kept', async () => {
    const store = new MemoryStore();
    closers.push(() => store.close());
    const one = new RoomLog({ store, logLimit: 40 });
    const two = new RoomLog({ store, logLimit: 40 });
    const seqs: number[] = [];
    for (let i = 0; i < 100; i++) {
      const [e] = await (i % 3 === 0 ? two : one).append('r', [message(i)], i % 3 === 0 ? 'two' : 'one', 0); // floor 0: members who still need everything
      seqs.push(e?.seq ?? -1);
    }
    expect(seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const all = await one.read('r', 1);
    expect(all.top).toBe(100);
    expect(all.trimmed).toBeGreaterThan(0);
    expect(all.entries.length).toBeLessThanOrEqual(40 + 2 * 32); // the bound, plus a chunk and the head's tail
    expect(all.entries.length).toBeGreaterThanOrEqual(40);
    expect(all.entries.map((e) => e.seq)).toEqual(
      Array.from({ length: all.entries.length }, (_, i) => 101 - all.entries.length + i),
    );
    expect(all.entries.map((e) => e.m.text)).toEqual(all.entries.map((e) => `t${e.seq - 1}`));
    const late = await two.read('r', 95);
    expect(late.entries.map((e) => e.seq)).toEqual([95, 96, 97, 98, 99, 100]);
    expect(late.trimmed).toBe(0);
  });

  it("trims what every node's members acknowledged, and keeps what one node still needs", async () => {
    const store = new MemoryStore();
    closers.push(() => store.close());
    const log = new RoomLog({ store });
    for (let i = 0; i < 100; i++) await log.append('r', [message(i)], 'one', 0);
    await log.setFloor('r', 'two', 10);
    expect((await log.read('r', 11)).trimmed).toBe(0); // node two still needs 11 on
    await log.setFloor('r', 'one', 100);
    await log.setFloor('r', 'two', 90);
    await log.append('r', [message(100)], 'one', 100); // trimming happens on a write
    const r = await log.read('r', 11);
    expect(r.trimmed).toBeGreaterThan(0);
    expect(r.entries[0]?.seq).toBeLessThanOrEqual(91); // what node two has not acknowledged is kept
    expect(r.entries.at(-1)?.seq).toBe(101);
  });
});
