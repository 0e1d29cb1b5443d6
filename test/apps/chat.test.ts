import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { ChatClient } from '../../src/apps/chat-client.js';
import type { ChatMessage } from '../../src/apps/chat-client.js';
import { encodeHello } from '../../src/apps/service.js';
import { LocalBus, type Bus } from '../../src/cluster/bus.js';
import { startChatServer } from './fixtures/chat-server.js';
import type { ChatServer } from './fixtures/chat-server.js';
import { chaosSeed, startFaultProxy } from '../chaos/fault-proxy.js';
import type { FaultProxy } from '../chaos/fault-proxy.js';

const servers: ChatServer[] = [];
const clients: ChatClient[] = [];
const proxies: FaultProxy[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.abort();
  for (const p of proxies.splice(0)) await p.close();
  for (const s of servers.splice(0)) await s.close();
});

async function server(...args: Parameters<typeof startChatServer>): Promise<ChatServer> {
  const s = await startChatServer(...args);
  servers.push(s);
  return s;
}

async function join(
  url: string,
  nick: string,
  room = 'lobby',
  extra: Parameters<typeof ChatClient.connect>[1] = {},
): Promise<ChatClient> {
  const c = await ChatClient.connect(url, { nick, room, ...extra });
  clients.push(c);
  return c;
}

/** Resolves when `check` is true, re-checked on every event of `c` (bounded by the test timeout). */
function until(c: ChatClient, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (check()) {
      resolve();
      return;
    }
    const offs = (['message', 'join', 'leave', 'presence', 'turn', 'notice', 'closed'] as const).map((e) =>
      c.on(e, () => {
        if (check()) {
          for (const off of offs) off();
          resolve();
        }
      }),
    );
  });
}

function record(c: ChatClient): { messages: ChatMessage[]; notices: string[] } {
  const r = { messages: [] as ChatMessage[], notices: [] as string[] };
  c.on('message', (m) => {
    if (!m.history) r.messages.push(m);
  });
  c.on('join', (j) => r.notices.push(`join ${j.nick}`));
  c.on('leave', (l) => r.notices.push(`leave ${l.nick} ${l.reason}`));
  return r;
}

describe('chat service', () => {
  it('welcomes, announces joins and leaves, and gives every message an id, once, to everyone', async () => {
    const s = await server();
    const ada = await join(s.tcp, 'ada');
    const a = record(ada);
    const bob = await join(s.ws, 'bob');
    const b = record(bob);
    await until(ada, () => a.notices.includes('join bob'));
    expect(bob.members).toEqual(['ada', 'bob']);
    await ada.send('hello bob');
    await bob.send('hi ada');
    await until(ada, () => a.messages.length === 2);
    await until(bob, () => b.messages.length === 2);
    expect(a.messages.map((m) => `${m.from}:${m.text}`).sort()).toEqual(['ada:hello bob', 'bob:hi ada']);
    expect(a.messages.map((m) => m.id)).toEqual(b.messages.map((m) => m.id)); // one order for the room
    expect(new Set(a.messages.map((m) => m.id)).size).toBe(2);
    expect(a.messages[0]?.room).toBe('lobby');
    await bob.close();
    await until(ada, () => a.notices.includes('leave bob left'));
    expect(ada.members).toEqual(['ada']);
  });

  it('suffixes a taken nick, keeps rooms apart and answers who', async () => {
    const s = await server();
    const ada = await join(s.tcp, 'ada');
    const ada2 = await join(s.tcp, 'ada');
    expect(ada2.nick).toBe('ada-2');
    const other = await join(s.tcp, 'ada', 'kitchen');
    expect(other.nick).toBe('ada');
    const r = record(other);
    await ada.send('lobby only');
    await until(ada2, () => ada2.members.length === 2);
    let presence: string[] = [];
    ada2.on('presence', (p) => {
      presence = p;
    });
    ada2.who();
    await until(ada2, () => presence.length > 0);
    expect(presence).toEqual(['ada', 'ada-2']);
    expect(r.messages).toEqual([]);
  });

  it('sends bounded history on join, and never again after a resume', async () => {
    const s = await server({ historyLimit: 3 });
    const ada = await join(s.tcp, 'ada');
    const a = record(ada);
    for (let i = 1; i <= 5; i++) await ada.send(`m${i}`);
    await until(ada, () => a.messages.length === 5);
    const history: string[] = [];
    let welcomes = 0;
    const bob = await ChatClient.connect(s.tcp, { nick: 'bob' });
    clients.push(bob);
    expect(bob.nick).toBe('bob');
    expect(bob.history.map((m) => m.text)).toEqual(['m3', 'm4', 'm5']);
    // onClient: listeners attached before the first frame see the welcome's history as events.
    const early: string[] = [];
    const carl = await ChatClient.connect(s.tcp, {
      nick: 'carl',
      onClient: (c) =>
        c.on('message', (m) => {
          if (m.history) early.push(m.text);
        }),
    });
    clients.push(carl);
    expect(early).toEqual(['m3', 'm4', 'm5']);
    bob.on('welcome', () => welcomes++);
    // History came with the welcome, before connect() resolved; count it from the session's view.
    const b = record(bob);
    bob.on('message', (m) => {
      if (m.history) history.push(m.text);
    });
    // Cut bob's connection: the session resumes, and nothing is sent twice.
    bob.session.driver.dropTransport();
    await new Promise<void>((resolve) => bob.session.once('resumed', () => resolve()));
    await ada.send('after');
    await until(bob, () => b.messages.length === 1);
    expect(b.messages.map((m) => m.text)).toEqual(['after']);
    expect(history).toEqual([]);
    expect(welcomes).toBe(0);
    expect(bob.history).toHaveLength(3);
  });

  it('hands history of the welcome in order, the last historyLimit', async () => {
    const s = await server({ historyLimit: 3 });
    const ada = await join(s.tcp, 'ada');
    const a = record(ada);
    for (let i = 1; i <= 5; i++) await ada.send(`m${i}`);
    await until(ada, () => a.messages.length === 5);
    const c = await connect(s.tcp, { userData: encodeHello({ service: 'chat', nick: 'raw' }) });
    const first = await c.read();
    const welcome = JSON.parse(new TextDecoder().decode(first.value)) as {
      type: string;
      history: ChatMessage[];
      members: string[];
    };
    expect(welcome.type).toBe('welcome');
    expect(welcome.history.map((m) => m.text)).toEqual(['m3', 'm4', 'm5']);
    expect(welcome.members).toEqual(['ada', 'raw']);
    c.abort();
  });

  it('refuses bad rooms and nicks at connect, and aborts a client that sends garbage', async () => {
    const s = await server({ maxNickLength: 8 });
    await expect(ChatClient.connect(s.tcp, { room: 'no spaces', reconnect: false })).rejects.toThrow(
      /room 'no spaces' is not/,
    );
    await expect(ChatClient.connect(s.tcp, { nick: 'much-too-long', reconnect: false })).rejects.toThrow(
      /longer than 8/,
    );
    await expect(ChatClient.connect(s.tcp, { nick: 'tab\there', reconnect: false })).rejects.toThrow(
      /control characters/,
    );
    const ada = await join(s.tcp, 'ada');
    const r = record(ada);
    const raw = await connect(s.tcp, { userData: encodeHello({ service: 'chat', nick: 'raw' }) });
    const closed = new Promise<string>((resolve) =>
      raw.on('closed', ({ error }) => resolve(`${error?.code} ${error?.message}`)),
    );
    await raw.send('{not json');
    expect(await closed).toMatch(/ERR_ABORTED .*not a chat message: not UTF-8 JSON/);
    await until(ada, () => r.notices.includes('leave raw lost'));
  });

  it('tells a client its message is too large and keeps the session', async () => {
    const s = await server({ maxMessageBytes: 10 });
    const ada = await join(s.tcp, 'ada');
    const notices: string[] = [];
    ada.on('notice', (n) => notices.push(n.code));
    await ada.send('x'.repeat(11));
    await until(ada, () => notices.length === 1);
    expect(notices).toEqual(['ERR_CHAT_MESSAGE_TOO_LARGE']);
    const r = record(ada);
    await ada.send('short');
    await until(ada, () => r.messages.length === 1);
  });

  it('refuses a full-duplex client in a walkie-talkie room and the reverse', async () => {
    const s = await server();
    await join(s.tcp, 'ada', 'radio', { halfDuplex: true });
    await expect(ChatClient.connect(s.tcp, { nick: 'bob', room: 'radio', reconnect: false })).rejects.toThrow(
      /half-duplex \(walkie-talkie\) room: join with --half-duplex/,
    );
    await join(s.tcp, 'ada', 'plain');
    await expect(
      ChatClient.connect(s.tcp, { nick: 'bob', room: 'plain', halfDuplex: true, reconnect: false }),
    ).rejects.toThrow(/full-duplex room/);
  });

  it('keeps every message exactly once for two clients through a proxy that cuts connections', async () => {
    const s = await server();
    const seed = chaosSeed();
    const target = { host: '127.0.0.1', port: s.server.addresses.tcp as number };
    const proxy = await startFaultProxy({ target, seed, cutEveryMs: [40, 160], maxChunk: 64 });
    proxies.push(proxy);
    const url = `tcp://127.0.0.1:${proxy.port}`;
    const opts = { reconnect: { initialDelayMs: 5, maxDelayMs: 50 } };
    const ada = await join(url, 'ada', 'lobby', opts);
    const bob = await join(url, 'bob', 'lobby', opts);
    const a = record(ada);
    const b = record(bob);
    const N = 150;
    for (let i = 0; i < N; i++) {
      await ada.send(`a${i}`);
      await bob.send(`b${i}`);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    await until(ada, () => a.messages.length >= 2 * N);
    await until(bob, () => b.messages.length >= 2 * N);
    await new Promise((r) => setTimeout(r, 50));
    for (const got of [a.messages, b.messages]) {
      expect(got.length, `seed ${seed}`).toBe(2 * N);
      expect(new Set(got.map((m) => m.id)).size).toBe(2 * N);
      const fromAda = got.filter((m) => m.from === 'ada').map((m) => m.text);
      expect(fromAda).toEqual(Array.from({ length: N }, (_, i) => `a${i}`));
    }
    expect(a.messages.map((m) => m.id)).toEqual(b.messages.map((m) => m.id));
    expect(proxy.stats.cuts, `seed ${seed}`).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

describe('chat half duplex (walkie-talkie)', () => {
  it('gives the floor to one client at a time: asked for, taken from the holder, handed on', async () => {
    const s = await server();
    const ada = await join(s.tcp, 'ada', 'radio', { halfDuplex: true });
    const bob = await join(s.tcp, 'bob', 'radio', { halfDuplex: true });
    const cat = await join(s.tcp, 'cat', 'radio', { halfDuplex: true });
    expect(ada.session.negotiated?.mode).toBe('halfDuplex');
    expect([ada.hasTurn, bob.hasTurn, cat.hasTurn]).toEqual([false, false, false]);
    const r = record(cat);
    await ada.send('over to you'); // waits for the turn: PLEASE_TOKENS, GIVE_TOKENS, then DATA
    expect(ada.hasTurn).toBe(true);
    await until(cat, () => cat.holder === 'ada' && r.messages.length === 1);
    // bob asks; the service asks ada, who gives it back, and bob gets it.
    await bob.send('roger');
    expect(bob.hasTurn).toBe(true);
    expect(ada.hasTurn).toBe(false);
    await until(cat, () => r.messages.length === 2);
    expect(r.messages.map((m) => `${m.from}:${m.text}`)).toEqual(['ada:over to you', 'bob:roger']);
    expect(cat.holder).toBe('bob');
    // Without the floor, the session itself refuses normal data.
    expect(() => cat.session.machine.sendData(new Uint8Array(1))).toThrow(/token/);
    // A holder leaving frees the floor; a client without the token leaves through the service.
    await cat.close();
    expect(cat.session.closed).toBe(true);
    await bob.close();
    await until(ada, () => ada.holder === null && ada.members.length === 1);
  });
});

describe('chat half duplex: leaving while the room talks', () => {
  it("a member without the floor leaves by the service's release, cleanly, while messages flow", async () => {
    const s = await server();
    const ada = await join(s.tcp, 'ada', 'radio', { halfDuplex: true });
    const cat = await join(s.tcp, 'cat', 'radio', { halfDuplex: true });
    const a = record(ada);
    await ada.send('first'); // ada takes the floor
    let catError: unknown = 'not closed';
    cat.on('closed', ({ error }) => {
      catError = error;
    });
    const talking = (async () => {
      for (let i = 0; i < 30; i++) await ada.send(`m${i}`);
    })();
    await cat.close(); // TYPED leave; the service releases while it keeps broadcasting
    await talking;
    expect(catError).toBeUndefined();
    await until(ada, () => a.notices.includes('leave cat left') && a.messages.length === 31);
  });
});

describe('chat over a bus (several nodes)', () => {
  it('forms one chat across two nodes: messages, presence, history for a late node, and expiry of a dead node', async () => {
    const bus = new LocalBus();
    let cutA = false;
    // Node A's bus can be cut off, as if its process died without a word.
    const busA: Bus = {
      publish: (t, m) => (cutA ? Promise.resolve() : bus.publish(t, m)),
      subscribe: (t, h) =>
        bus.subscribe(t, (m) => {
          if (!cutA) h(m);
        }),
      close: () => Promise.resolve(),
    };
    const nodeA = await server({ bus: busA, presenceIntervalMs: 100, nodeId: 'a' });
    const ada = await join(nodeA.tcp, 'ada');
    const a = record(ada);
    await ada.send('before b existed');
    await until(ada, () => a.messages.length === 1);
    const nodeB = await server({ bus, presenceIntervalMs: 100, nodeId: 'b' });
    const bob = await join(nodeB.ws, 'bob');
    const b = record(bob);
    // Node B learnt the room's history from node A after bob's welcome: it arrives as `history`.
    await until(bob, () => bob.history.length === 1 && bob.members.includes('ada'));
    expect(bob.history.map((m) => m.text)).toEqual(['before b existed']);
    await until(ada, () => a.notices.includes('join bob'));
    const bob2 = await join(nodeB.tcp, 'ada');
    expect(bob2.nick).toBe('ada-2'); // the nick is taken on the other node
    await bob.send('from b');
    await ada.send('from a');
    await until(ada, () => a.messages.length === 3);
    await until(bob, () => b.messages.length === 2);
    expect(b.messages.map((m) => m.text).sort()).toEqual(['from a', 'from b']);
    expect(a.messages.filter((m) => m.text === 'from b')).toHaveLength(1);
    cutA = true;
    await until(bob, () => b.notices.includes('leave ada node-gone'));
    expect(bob.members).toEqual(['ada-2', 'bob']);
  }, 30_000);
});

describe('chat limits and hostile input', () => {
  it('aborts a member that does not read instead of holding up the room', async () => {
    const s = await server({}, { maxSendQueueBytes: 64 * 1024, maxReplayBytes: 64 * 1024 });
    const ada = await join(s.tcp, 'ada');
    const a = record(ada);
    // A member whose application never reads: its receive buffer pauses the transport.
    const lazy = await connect(s.tcp, {
      userData: encodeHello({ service: 'chat', nick: 'lazy' }),
      maxReceiveBufferBytes: 1024,
    });
    const text = 'x'.repeat(3000);
    for (let i = 0; i < 400 && s.chat.stats.slowAborts === 0; i++) {
      await ada.send(text);
      if (i % 20 === 19) await until(ada, () => a.messages.length === i + 1);
    }
    await until(ada, () => a.notices.includes('leave lazy lost'));
    expect(s.chat.stats.slowAborts).toBe(1);
    // Once it reads again it finds what was sent, then the abort and why.
    const drained = (async () => {
      for await (const unit of lazy) void unit;
    })();
    await expect(drained).rejects.toThrow(/does not read what the room sends/);
    // The room goes on.
    const before = a.messages.length;
    await ada.send('still here');
    await until(ada, () => a.messages.length === before + 1);
  }, 60_000);

  it("loses nothing for a member while its major sync point awaits the session's answer", async () => {
    const { encodeChat } = await import('../../src/apps/chat-protocol.js');
    const s = await server();
    const ada = await join(s.tcp, 'ada');
    const bob = await join(s.tcp, 'bob');
    const b = record(bob);
    const serverSide = (nick: string): import('../../src/driver/session.js').Session =>
      [...s.server.sessions.values()].find(
        (x) => (x.principal as { hello: { nick: string } }).hello.nick === nick,
      ) as import('../../src/driver/session.js').Session;
    // The moment bob's MAJOR_SYNC arrives, before the session has answered it (it answers a tick
    // later), a message from ada reaches the room: bob's session cannot take data just then.
    const bobServer = serverSide('bob');
    const adaServer = serverSide('ada');
    bobServer.on('event', (e) => {
      if (e.type === 'sync-major')
        adaServer.handleEvent({ type: 'data', payload: encodeChat({ type: 'say', text: `during sync ${e.serial}` }) });
    });
    const serials: number[] = [];
    for (let i = 0; i < 3; i++) serials.push(await bob.session.syncMajor());
    await ada.send('after');
    await until(bob, () => b.messages.some((m) => m.text === 'after'));
    expect(b.messages.map((m) => m.text)).toEqual([...serials.map((n) => `during sync ${n}`), 'after']);
  }, 15_000);

  it("fits every unit to a member's negotiated frame size: history trimmed, an oversized message replaced by an error", async () => {
    const s = await server();
    const ada = await join(s.tcp, 'ada');
    const a = record(ada);
    for (let i = 0; i < 6; i++) await ada.send(`${i}:${'h'.repeat(300)}`);
    await until(ada, () => a.messages.length === 6);
    const small = await join(s.tcp, 'small', 'lobby', { maxFrameSize: 1024 });
    expect(small.session.negotiated?.maxFrameSize).toBe(1024);
    // The newest messages that fit, oldest dropped first.
    expect(small.history.length).toBeGreaterThan(0);
    expect(small.history.length).toBeLessThan(6);
    expect(small.history.at(-1)?.text.startsWith('5:')).toBe(true);
    const notices: string[] = [];
    small.on('notice', (n) => notices.push(n.code));
    const r = record(small);
    await ada.send('x'.repeat(2000));
    await ada.send('fits');
    await until(small, () => r.messages.length === 1 && notices.length === 1);
    expect(notices).toEqual(['ERR_PAYLOAD_TOO_LARGE']);
    expect(r.messages.map((m) => m.text)).toEqual(['fits']);
    await until(ada, () => a.messages.length === 8); // everyone else got both
  });

  it('the client encodes its hello within the same bound as the service contract', async () => {
    const { MAX_CHAT_HELLO_BYTES } = await import('../../src/apps/chat-protocol.js');
    const { MAX_HELLO_BYTES } = await import('../../src/apps/service.js');
    expect(MAX_CHAT_HELLO_BYTES).toBe(MAX_HELLO_BYTES);
  });

  it('the browser client bundles without the server or any node:* import of its own', async () => {
    const { build } = await import('esbuild');
    const r = await build({
      entryPoints: ['src/apps/chat-client.ts'],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
      external: ['node:*', 'ws'],
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(
      inputs.filter((i) => i.startsWith('src/server/') || i === 'src/apps/service.ts' || i === 'src/apps/chat.ts'),
    ).toEqual([]);
    for (const own of inputs.filter((i) => i.startsWith('src/apps/'))) {
      expect(
        r.metafile.inputs[own]?.imports.filter((i) => i.path.startsWith('node:')),
        own,
      ).toEqual([]);
    }
  });

  it('parses only chat messages; anything else is ERR_CHAT_BAD_MESSAGE', async () => {
    const { parseClientMessage, parseServerMessage } = await import('../../src/apps/chat-protocol.js');
    const b = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(parseClientMessage(b('{"type":"say","text":"hi","extra":1}'))).toEqual({ type: 'say', text: 'hi' });
    for (const bad of [
      '',
      '[]',
      'null',
      '{"type":"say"}',
      '{"type":"say","text":5}',
      '{"type":"shout","text":"x"}',
      '\xff',
    ]) {
      expect(() => parseClientMessage(b(bad)), bad).toThrow(expect.objectContaining({ code: 'ERR_CHAT_BAD_MESSAGE' }));
    }
    expect(() => parseClientMessage(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/not UTF-8 JSON/);
    expect(parseServerMessage(b('{"type":"turn","room":"r","holder":null}'))).toEqual({
      type: 'turn',
      room: 'r',
      holder: null,
    });
    for (const bad of [
      '{"type":"message","id":"1","room":"r","from":"a","text":"t"}',
      '{"type":"welcome","room":"r"}',
      '{"type":"presence","room":"r","members":[1]}',
      '{"type":"nope"}',
    ]) {
      expect(() => parseServerMessage(b(bad)), bad).toThrow(expect.objectContaining({ code: 'ERR_CHAT_BAD_MESSAGE' }));
    }
  });

  it('a ChatClient aborts a server that sends what is not chat', async () => {
    const { listen } = await import('../../src/server/server.js');
    const bogus = await listen({ tcp: { port: 0 } });
    bogus.on('session', (sess) => {
      void sess.send('{"type":"welcome"}');
    });
    try {
      await expect(ChatClient.connect(`tcp://127.0.0.1:${bogus.addresses.tcp}`, { reconnect: false })).rejects.toThrow(
        /not a chat message/,
      );
    } finally {
      await bogus.destroy();
    }
  });
});

describe('chat: what arrives on the bus is checked', () => {
  it('ignores and reports garbage, oversized messages, bad nicks and bad leave reasons from other nodes', async () => {
    const bus = new LocalBus();
    const errors: string[] = [];
    const s = await server({ bus, nodeId: 'me', maxMessageBytes: 100, onBusError: (e) => errors.push(e.message) });
    const ada = await join(s.tcp, 'ada');
    const r = record(ada);
    const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
    const msg = (id: string, text: string): unknown => ({
      k: 'message',
      node: 'evil',
      message: { id, room: 'lobby', from: 'x', text, ts: 1 },
    });
    await bus.publish('chat/lobby', enc('not json'));
    await bus.publish('chat/lobby', enc(msg('big', 'y'.repeat(101))));
    await bus.publish('chat/lobby', enc({ k: 'join', node: 'evil', nick: 'bad\nnick' }));
    await bus.publish('chat/lobby', enc({ k: 'join', node: 'evil', nick: 'eve' }));
    await bus.publish('chat/lobby', enc({ k: 'join', node: 'evil', nick: 'eve' })); // again: no second notice
    await bus.publish('chat/lobby', enc({ k: 'leave', node: 'evil', nick: 'eve', reason: '<script>' }));
    await bus.publish('chat/lobby', enc(msg('ok', 'fine')));
    await until(ada, () => r.messages.length === 1 && r.notices.length === 2);
    expect(r.messages.map((m) => m.text)).toEqual(['fine']);
    expect(r.notices).toEqual(['join eve', 'leave eve left']);
    expect(errors.some((e) => /not chat JSON/.test(e))).toBe(true);
  });
});

describe('chat with durable sessions', () => {
  it('a member restored on another node keeps its nick and is not welcomed or announced again', async () => {
    const { MemoryStore } = await import('../../src/store/memory-store.js');
    const net = await import('node:net');
    const store = new MemoryStore();
    const bus = new LocalBus();
    const durable = { durability: { store }, heartbeatMs: 0 };
    const node1 = await server({ bus, nodeId: 'n1' }, durable);
    const node2 = await server({ bus, nodeId: 'n2' }, durable);
    // A forwarder whose target can change, as a load balancer moving a client to another node.
    let target = node1.server.addresses.tcp as number;
    const sockets = new Set<import('node:net').Socket>();
    const lb = net.createServer((c) => {
      const up = net.connect(target, '127.0.0.1');
      for (const s of [c, up]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      c.pipe(up);
      up.pipe(c);
      c.on('close', () => up.destroy());
      up.on('close', () => c.destroy());
    });
    await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
    try {
      await join(node1.tcp, 'ada');
      const moving = await join(
        `tcp://127.0.0.1:${(lb.address() as import('node:net').AddressInfo).port}`,
        'ada',
        'lobby',
        { heartbeatMs: 0, reconnect: { initialDelayMs: 5, maxDelayMs: 20 } },
      );
      expect(moving.nick).toBe('ada-2');
      const bob = await join(node2.tcp, 'bob');
      const b = record(bob);
      let welcomes = 0;
      moving.on('welcome', () => welcomes++);
      const m = record(moving);
      // node1 becomes unreachable for this client; its next connection lands on node2.
      target = node2.server.addresses.tcp as number;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => moving.session.once('resumed', () => resolve()));
      expect(node2.server.sessions.has(moving.session.id)).toBe(true);
      await moving.send('after the move');
      await until(bob, () => b.messages.some((x) => x.text === 'after the move'));
      await until(moving, () => m.messages.some((x) => x.text === 'after the move'));
      expect(b.messages.find((x) => x.text === 'after the move')?.from).toBe('ada-2');
      expect(node2.chat.members('lobby')).toContain('ada-2');
      expect(welcomes).toBe(0);
      expect(b.notices.filter((n) => n.startsWith('join'))).toEqual([]);
      expect(m.messages.filter((x) => x.text === 'after the move')).toHaveLength(1);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => lb.close(() => resolve()));
    }
  }, 30_000);
});

describe('chat client resumed from a snapshot (a page reload)', () => {
  it('goes on with the same member: no second welcome or join, its nick from who, messages once', async () => {
    const s = await server();
    const bob = await join(s.tcp, 'bob');
    const b = record(bob);
    const first = await ChatClient.connect(s.tcp, { nick: 'ada', heartbeatMs: 0, reconnect: false });
    clients.push(first);
    let snapshot: import('../../src/engine/machine/index.js').MachineSnapshot | undefined;
    first.session.driver.durability = {
      persist: async (snap) => {
        snapshot = snap;
      },
      failed: (e) => e as never,
    };
    await first.send('before the reload');
    await until(bob, () => b.messages.length === 1);
    // The page goes away without a word; bob talks meanwhile.
    first.session.driver.dropTransport();
    await bob.send('while you were away');
    expect(snapshot).toBeDefined();
    const early: string[] = [];
    const again = await ChatClient.connect(s.tcp, {
      heartbeatMs: 0,
      resume: snapshot,
      onClient: (c) => c.on('message', (m) => early.push(m.text)),
    });
    clients.push(again);
    expect(again.session.id).toBe(first.session.id);
    await until(again, () => again.nick === 'ada' && early.includes('while you were away'));
    expect(again.members).toEqual(['ada', 'bob']);
    await again.send('after the reload');
    await until(bob, () => b.messages.length === 3);
    expect(b.messages.map((m) => `${m.from}:${m.text}`)).toEqual([
      'ada:before the reload',
      'bob:while you were away',
      'ada:after the reload',
    ]);
    expect(b.notices).toEqual(['join ada']); // the first join only: no leave, no second join
    expect(early.filter((t) => t === 'while you were away')).toHaveLength(1);
  }, 30_000);
});
