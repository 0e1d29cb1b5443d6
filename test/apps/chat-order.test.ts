// A member's lines reach the room log in the order its client said them, even when the node that
// took one of them dies before logging it. The interleaving seen under load with real processes
// (test/nodes/chat-kill.test.ts: a member's lines arrived a8, a10, a11, a9), forced here in one
// process: node A receives and acknowledges a9, and its append to the room log never completes
// (A froze); the client, cut off, queues a10 and a11; node B restores the session, which brings
// it a10 and a11, and only then does the client send a9 again (B said `interrupted`). B holds the
// member's new lines until the client's lines sent again are in, and logs them in the client's
// order. The memory store; in-process nodes (listen() + ServiceHost + chat) on one LocalBus.

import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import type { ChatMessage } from '../../src/apps/chat-client.js';
import { LocalBus } from '../../src/cluster/bus.js';
import { MAX_SPEAKERS, RoomLog, SAID_KEYS } from '../../src/apps/chat-log.js';
import type { ChatMessage as LoggedMessage } from '../../src/apps/chat-protocol.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { startChatServer } from './fixtures/chat-server.js';
import type { ChatServer } from './fixtures/chat-server.js';
import { RESEND_HELD_LINES, RESEND_WAIT_MS } from '../../src/apps/chat-feed.js';
import { forwarder } from '../support/forwarder.js';
import { freePort } from '../support/redis.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

/** `store`, whose writes to room logs hang once `freeze()` was called (a frozen node's append). */
function freezable(store: SessionStore): { store: SessionStore; freeze(): void; hung: unknown[] } {
  let frozen = false;
  const hung: unknown[] = [];
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'compareAndSet' || prop === 'set')
        return (key: string, ...rest: unknown[]) => {
          if (frozen && key.includes(':log:')) {
            hung.push(rest[rest.length - 2]);
            return new Promise(() => {});
          }
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store: wrapped,
    freeze: () => {
      frozen = true;
    },
    hung,
  };
}

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * a0..a8 logged; a9 taken by A, which never logs it; a10 and a11 (`queued` lines) queued while ada is cut off; B
 * restores ada's session. `before(ada)` runs before the cut. Resolves with bob's lines and ada's notices.
 */
async function scenario(
  before: (ada: ChatClient) => void = () => {},
  queued = 2,
): Promise<{ got: ChatMessage[]; notices: { code: string; message: string }[]; nodeB: ChatServer; ada: ChatClient }> {
  const store = new MemoryStore();
  const bus = new LocalBus();
  const a = freezable(store);
  const start = async (id: string, shared: SessionStore) => {
    const s = await startChatServer(
      { bus, nodeId: id, presenceIntervalMs: 200, shared: { store: shared } },
      { durability: { store }, heartbeatMs: 0 },
    );
    closers.push(() => s.close());
    return s;
  };
  const nodeA = await start('A', a.store);
  const nodeB = await start('B', store);
  const dead = await freePort();
  let target = nodeA.server.addresses.tcp as number;
  const lb = await forwarder(() => target);
  closers.push(() => lb.close());
  const connect = async (url: string, nick: string): Promise<ChatClient> => {
    const c = await ChatClient.connect(url, {
      nick,
      room: 'order',
      heartbeatMs: 0,
      reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
    });
    closers.push(async () => c.abort());
    return c;
  };
  const ada = await connect(`tcp://127.0.0.1:${lb.port}`, 'ada');
  const bob = await connect(nodeB.tcp, 'bob');
  const got: ChatMessage[] = [];
  const notices: { code: string; message: string }[] = [];
  ada.on('notice', (n) => notices.push(n));
  bob.on('message', (m) => {
    if (!m.history) got.push(m);
  });
  await waitFor(() => ada.members.includes('bob'), "bob in ada's list");
  for (let i = 0; i <= 8; i++) await ada.send(`a${i}`);
  await waitFor(() => got.length === 9, 'a0..a8 at bob');

  // A takes a9 (its session acknowledges it) and never logs it.
  a.freeze();
  await ada.send('a9');
  await waitFor(() => a.hung.some((v) => JSON.stringify(v).includes('"a9"')), "A's append of a9 under way (and hung)");
  const stats = () => ada.session.machine.stats;
  await waitFor(() => stats().acknowledged >= stats().sent, 'A acknowledged a9');

  // A is gone for ada; a10 and a11 wait in ada's session; B restores the session.
  before(ada);
  let cut = false;
  ada.on('interrupted', () => {
    cut = true;
  });
  target = dead;
  lb.cutAll();
  await waitFor(() => cut, "ada's connection cut");
  await Promise.all(Array.from({ length: queued }, (_, i) => ada.send(`a${10 + i}`)));
  target = nodeB.server.addresses.tcp as number;
  return { got, notices, nodeB, ada };
}

describe('chat across nodes: a line the dead node took but never logged', () => {
  it('is logged before the lines its client said after it (a9 before a10 and a11), once', async () => {
    const { got, notices, nodeB, ada } = await scenario();
    await waitFor(() => got.length >= 12, 'a0..a11 at bob');
    await new Promise((r) => setTimeout(r, 300)); // a doubled line would arrive meanwhile
    expect(got.map((m) => m.text)).toEqual(Array.from({ length: 12 }, (_, i) => `a${i}`));
    expect(nodeB.server.sessions.has(ada.session.id)).toBe(true);
    expect(notices).toEqual([]);
  }, 60_000);

  it('a client that never says what it sends again: the held lines go to the log after RESEND_WAIT_MS, and it is told', async () => {
    const { got, notices } = await scenario((ada) => {
      // An older client: it neither sends `resending` nor its lines again.
      (ada as unknown as { sendAgain(): void }).sendAgain = () => {};
    });
    const began = Date.now();
    await waitFor(() => got.length >= 11, 'a10 and a11 at bob', RESEND_WAIT_MS + 20_000);
    expect(Date.now() - began).toBeGreaterThanOrEqual(RESEND_WAIT_MS - 2000);
    expect(got.map((m) => m.text)).toEqual([...Array.from({ length: 9 }, (_, i) => `a${i}`), 'a10', 'a11']);
    await waitFor(() => notices.length > 0, 'the notice');
    expect(notices[0]?.code).toBe('ERR_CHAT_RESEND_INCOMPLETE');
    expect(notices[0]?.message).toContain('2 of your lines were held 15000 ms (RESEND_WAIT_MS)');
  }, 90_000);

  it('more lines held than RESEND_HELD_LINES: logged at once, in order, and the client is told', async () => {
    const N = RESEND_HELD_LINES + 1;
    const { got, notices } = await scenario((ada) => {
      (ada as unknown as { sendAgain(): void }).sendAgain = () => {};
    }, N);
    const began = Date.now();
    await waitFor(() => got.length >= 9 + N, 'every held line at bob');
    expect(Date.now() - began).toBeLessThan(RESEND_WAIT_MS);
    expect(got.map((m) => m.text)).toEqual([
      ...Array.from({ length: 9 }, (_, i) => `a${i}`),
      ...Array.from({ length: N }, (_, i) => `a${10 + i}`),
    ]);
    await waitFor(() => notices.length > 0, 'the notice');
    expect(notices[0]?.code).toBe('ERR_CHAT_RESEND_INCOMPLETE');
    expect(notices[0]?.message).toContain(`${N} of your lines were held (RESEND_HELD_LINES, ${RESEND_HELD_LINES})`);
  }, 90_000);
});

describe('the room log: a member line sent again is logged once, however old', () => {
  const line = (n: number, who = 'ada-key') => ({
    m: { id: `m${n}`, room: 'r', from: 'ada', text: `t${n}`, ts: n, cid: `c${n}` } as LoggedMessage,
    who,
    n,
  });

  it('by the member counter: every line again from another node, 4 x SAID_KEYS of them, none logged twice', async () => {
    const store = new MemoryStore();
    const one = new RoomLog({ store, logLimit: 10_000 });
    const two = new RoomLog({ store, logLimit: 10_000 });
    const N = 4 * SAID_KEYS;
    for (let n = 1; n <= N; n += 8)
      await one.append(
        'r',
        Array.from({ length: 8 }, (_, i) => line(n + i)),
        'one',
        0,
      ); // floor 0: a member still needs all
    // Another node gets them all again (a client sending again what never came back).
    const again = await two.append(
      'r',
      Array.from({ length: N }, (_, i) => line(i + 1)),
      'two',
      null,
    );
    expect(again).toEqual([]);
    const more = await two.append('r', [line(N - 3), line(N + 1), line(N + 1)], 'two', null);
    expect(more.map((e) => e.m.text)).toEqual([`t${N + 1}`]);
    expect((await one.read('r', 1)).entries.map((e) => e.m.text)).toEqual(
      Array.from({ length: N + 1 }, (_, i) => `t${i + 1}`),
    );
    // Without counters (an older client), only the last SAID_KEYS cids are known: the contrast.
    const old = await two.append('r', [line(1).m], 'two', null);
    expect(old).toHaveLength(1);
  });

  it("keeps a member's counter until it leaves, and at most MAX_SPEAKERS members' counters", async () => {
    const store = new MemoryStore();
    const log = new RoomLog({ store });
    await log.append('r', [line(5, 'bob')], 'one', null);
    await log.append('r', [line(5, 'bob')], 'one', null, []);
    expect((await log.read('r', 1)).entries).toHaveLength(1);
    await log.append('r', [], 'one', null, ['bob']); // bob left: his counter goes
    expect(await log.append('r', [line(5, 'bob')], 'one', null)).toHaveLength(1);
    const many = Array.from({ length: MAX_SPEAKERS + 10 }, (_, i) => line(1, `m${i}`));
    await log.append('r', many, 'one', null);
    const head = (await store.get<{ spoke: Record<string, unknown> }>('colloquy:chat:log:r'))?.data;
    expect(Object.keys(head?.spoke ?? {})).toHaveLength(MAX_SPEAKERS);
  });
});
