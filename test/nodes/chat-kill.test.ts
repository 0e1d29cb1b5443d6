// Chat and RPC go on when their node dies, with real processes: `colloquy serve --store redis://…`
// nodes on one Redis, a forwarder in front that sends new connections to a live node (a balancer),
// and clients as a user runs them (ChatClient, RpcClient). The node holding one member is killed
// with SIGKILL mid-conversation, then frozen with SIGSTOP instead, then killed twice in a row; the
// same three in a half-duplex room, to the node of the floor's holder. Every line reaches every
// member once, in order, in the same session. An RPC call to a slow method whose node is killed
// mid-call finishes in the same call, and its answer is stored once: asking again with the same id
// does not run it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import type { ChatMessage } from '../../src/apps/chat-client.js';
import { RpcClient } from '../../src/apps/rpc-client.js';
import { skipWithout, startRedis } from '../support/redis.js';
import type { RedisServer } from '../support/redis.js';
import { ANONYMOUS, startServe } from '../support/serve.js';
import type { ServeNode } from '../support/serve.js';
import { forwarder } from '../support/forwarder.js';
import type { Forwarder } from '../support/forwarder.js';

const skip = skipWithout('redis-server', 'chat and rpc across killed nodes', 'apt-get install redis-server');
/** Bounded waits: generous, for a machine at load average 20. */
const WAIT_MS = 90_000;

describe.skipIf(skip)('chat and rpc: kill -9 or SIGSTOP of the node holding a session', () => {
  let redis: RedisServer;
  const nodes: ServeNode[] = [];
  const clients: { abort(): void }[] = [];
  let lb: Forwarder | undefined;
  beforeAll(async () => {
    redis = await startRedis();
  }, 30_000);
  afterEach(async () => {
    for (const c of clients.splice(0)) c.abort();
    await lb?.close();
    lb = undefined;
    for (const n of nodes.splice(0)) {
      if (n.process.exitCode !== null || n.process.signalCode !== null) continue;
      n.process.kill('SIGCONT');
      n.process.kill('SIGKILL');
    }
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const start = async (): Promise<ServeNode> => {
    const n = await startServe(['--store', redis.url, ...ANONYMOUS]);
    nodes.push(n);
    return n;
  };
  const port = (n: ServeNode): number => Number(new URL(n.tcp).port);
  const connectOptions = { heartbeatMs: 1000, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } };

  async function member(
    url: string,
    nick: string,
    room: string,
    halfDuplex = false,
  ): Promise<{ chat: ChatClient; got: ChatMessage[]; closed: () => boolean; left: string[] }> {
    const chat = await ChatClient.connect(url, { nick, room, halfDuplex, ...connectOptions });
    clients.push(chat);
    const got: ChatMessage[] = [];
    const left: string[] = [];
    let closed = false;
    chat.on('message', (m) => {
      if (!m.history) got.push(m);
    });
    chat.on('leave', (m) => left.push(`${m.nick} (${m.reason})`));
    chat.on('closed', () => {
      closed = true;
    });
    return { chat, got, closed: () => closed, left };
  }

  /** The room's members as the service tells `c` now (a `who`, answered by `presence`). */
  async function who(c: ChatClient): Promise<string[]> {
    const answer = new Promise<string[]>((resolve) => {
      const off = c.on('presence', (members) => {
        off();
        resolve(members);
      });
    });
    c.who();
    return answer;
  }

  /** Resolves once `check` holds (polled every 50 ms); rejects after WAIT_MS saying what was awaited. */
  async function until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Each says its lines (one every `gapMs`) while the room talks; `at(i)` runs before line i of the first. */
  async function talk(a: ChatClient, b: ChatClient, n: number, at: (i: number) => Promise<void>): Promise<void> {
    const say = async (c: ChatClient, tag: string, hook: boolean): Promise<void> => {
      for (let i = 0; i < n; i++) {
        if (hook) await at(i);
        await c.send(`${tag}${i}`);
        await new Promise((r) => setTimeout(r, 40));
      }
    };
    await Promise.all([say(a, 'a', true), say(b, 'b', false)]);
  }

  /** Every member got every line exactly once, each sender's in its order, all in one room order. */
  function expectEveryLineOnce(members: { got: ChatMessage[] }[], n: number): void {
    for (const m of members) {
      for (const [from, tag] of [
        ['ada', 'a'],
        ['bob', 'b'],
      ] as const) {
        expect(m.got.filter((x) => x.from === from).map((x) => x.text)).toEqual(
          Array.from({ length: n }, (_, i) => `${tag}${i}`),
        );
      }
      expect(m.got).toHaveLength(2 * n);
    }
    const [first, ...rest] = members;
    for (const m of rest) expect(m.got.map((x) => x.id)).toEqual(first?.got.map((x) => x.id));
  }

  /** ada through the balancer on `first`, bob straight on `bob`'s node; `kills` run at the given lines. */
  type Member = Awaited<ReturnType<typeof member>>;
  async function conversation(
    room: string,
    first: ServeNode,
    bobNode: ServeNode,
    kills: Map<number, () => void>,
    halfDuplex = false,
  ): Promise<[Member, Member]> {
    lb = await forwarder(port(first));
    const ada = await member(`tcp://127.0.0.1:${lb.port}`, 'ada', room, halfDuplex);
    const bob = await member(bobNode.tcp, 'bob', room, halfDuplex);
    await until(() => ada.chat.members.includes('bob'), "bob in ada's member list");
    const session = ada.chat.session.id;
    let resumes = 0;
    ada.chat.session.on('resumed', () => {
      resumes++;
    });
    // Half duplex: one floor for the room, whatever node each member is on.
    let both = 0;
    const floor = setInterval(() => {
      if (halfDuplex && ada.chat.hasTurn && bob.chat.hasTurn) both++;
    }, 5);
    const N = 40;
    await talk(ada.chat, bob.chat, N, async (i) => {
      const kill = kills.get(i);
      if (!kill) return;
      const before = resumes;
      kill();
      await until(() => resumes > before, `ada's session resumed after the kill before line ${i}`);
    });
    await until(() => ada.got.length >= 2 * N && bob.got.length >= 2 * N, 'every line at both members');
    await new Promise((r) => setTimeout(r, 500)); // a doubled line would arrive meanwhile
    clearInterval(floor);
    expect(both).toBe(0);
    expectEveryLineOnce([ada, bob], N);
    expect(ada.chat.session.id).toBe(session); // the same session: never rejoined
    expect(ada.closed() || bob.closed()).toBe(false);
    expect(ada.chat.nick).toBe('ada');
    // Presence across nodes: nobody left, for either member, and both see both.
    expect(ada.left).toEqual([]);
    expect(bob.left).toEqual([]);
    expect(await who(ada.chat)).toEqual(['ada', 'bob']);
    expect(await who(bob.chat)).toEqual(['ada', 'bob']);
    return [ada, bob];
  }

  const killAndMove =
    (victim: ServeNode, next: ServeNode, signal: NodeJS.Signals = 'SIGKILL') =>
    (): void => {
      lb?.switchTo(port(next));
      victim.process.kill(signal);
    };

  it('two members; the node holding one is killed mid-conversation: every line once, in order; nicks stay unique', async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    // Two nodes hand out a nick at the same instant: one gets it, the other the next free one
    // (another room: their leaves would reach ada and bob, who must see no leave below).
    const [c1, c2] = await Promise.all([
      ChatClient.connect(n1.tcp, { nick: 'cy', room: 'nicks', ...connectOptions }),
      ChatClient.connect(n2.tcp, { nick: 'cy', room: 'nicks', ...connectOptions }),
    ]);
    clients.push(c1, c2);
    expect([c1.nick, c2.nick].sort()).toEqual(['cy', 'cy-2']);
    await Promise.all([c1.close(), c2.close()]);
    await conversation('kill-once', n1, n2, new Map([[12, killAndMove(n1, n2)]]));
    // ada's nick moved with her session to n2 (n1 is dead): a newcomer asking for it gets ada-2.
    const newcomer = await member(n2.tcp, 'ada', 'kill-once');
    expect(newcomer.chat.nick).toBe('ada-2');
    expect(await who(newcomer.chat)).toEqual(['ada', 'ada-2', 'bob']);
  }, 240_000);

  it('the same with the node frozen (SIGSTOP) instead of killed; thawed at the end, it disturbs nothing', async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    const [ada, bob] = await conversation('frozen', n1, n2, new Map([[12, killAndMove(n1, n2, 'SIGSTOP')]]));
    // Thawed, the old node finds the session taken over (its next write to the store fails) and
    // drops its copy: nothing it still had is delivered again, and the room goes on.
    n1.process.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 3000));
    await ada.chat.send('after the thaw');
    await until(
      () => [ada, bob].every((m) => m.got.some((x) => x.text === 'after the thaw')),
      'the line after the thaw at both members',
    );
    for (const m of [ada, bob]) {
      expect(m.got).toHaveLength(81);
      expect(new Set(m.got.map((x) => x.id)).size).toBe(81);
    }
    expect(ada.closed() || bob.closed()).toBe(false);
  }, 240_000);

  it('two kills in a row: the member goes on on a third node', async () => {
    const [n1, n2, n3] = await Promise.all([start(), start(), start()]);
    await conversation(
      'kill-twice',
      n1,
      n3,
      new Map([
        [10, killAndMove(n1, n2)],
        [24, killAndMove(n2, n3)],
      ]),
    );
  }, 300_000);

  it("a half-duplex room: the node of the floor's holder dies; the floor and every line go on", async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    // ada asks for the floor for each line and bob for each of his: the floor moves between the
    // nodes all the time, and ada (on n1) holds it or waits for it when n1 dies.
    await conversation('walkie', n1, n2, new Map([[12, killAndMove(n1, n2)]]), true);
  }, 240_000);

  it("a half-duplex room, the same with the floor holder's node frozen (SIGSTOP) instead of killed", async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    await conversation('walkie-frozen', n1, n2, new Map([[12, killAndMove(n1, n2, 'SIGSTOP')]]), true);
  }, 240_000);

  it('a half-duplex room, two kills in a row: the floor and every line go on on a third node', async () => {
    const [n1, n2, n3] = await Promise.all([start(), start(), start()]);
    await conversation(
      'walkie-twice',
      n1,
      n3,
      new Map([
        [10, killAndMove(n1, n2)],
        [24, killAndMove(n2, n3)],
      ]),
      true,
    );
  }, 300_000);

  it('rpc: a slow call whose node is killed mid-call finishes in the same call, and its answer is kept once', async () => {
    const [n1, n2] = await Promise.all([start(), start()]);
    lb = await forwarder(port(n1));
    const rpc = await RpcClient.connect(`tcp://127.0.0.1:${lb.port}`, { connect: connectOptions, timeoutMs: WAIT_MS });
    clients.push({ abort: () => rpc.session.abort() });
    const id = `${rpc.clientId}.slow`;
    const call = rpc.call<{ slept: number; attempt: number }>('sleep', [4000], { id });
    await new Promise((r) => setTimeout(r, 1000)); // the call runs on n1
    killAndMove(n1, n2)();
    const answer = await call;
    expect(answer).toEqual({ slept: 4000, attempt: 2 }); // n1 died running it; n2 ran it again
    // The same request again, from another process's session with the same client id: the stored
    // answer at once, the method not run again.
    const again = await RpcClient.connect(n2.tcp, { clientId: rpc.clientId, connect: connectOptions });
    clients.push({ abort: () => again.session.abort() });
    const began = performance.now();
    expect(await again.call('sleep', [4000], { id })).toEqual(answer);
    expect(performance.now() - began).toBeLessThan(3500);
  }, 240_000);
});
