// The room log after a failover lost appends (issue 19): a Redis primary acknowledged an append
// (its lines numbered, announced, delivered to members) and died before its replica had it; the
// promoted replica's head is behind. The next append used to number its lines from that head
// again, giving them the lost lines' positions, which members past those positions skip. Now an
// append checks the head against what its node saw numbered (its own appends, the heads it read,
// the entries its members got): the lost entries are appended again at their positions from the
// node's memory, or, if some are not there, their positions are skipped (a reader finds them
// missing and its member is told); a position is never numbered twice.
//
// The rollback is forced on a MemoryStore: every key put back as it was at a mark (the log's
// head written again up to its version, with its tag; chunks written since deleted).

import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { LocalBus } from '../../src/cluster/bus.js';
import { startChatServer } from './fixtures/chat-server.js';
import type { ChatServer } from './fixtures/chat-server.js';
import { RoomLog, TAIL_ENTRIES } from '../../src/apps/chat-log.js';
import type { LogEntry, LogMemory } from '../../src/apps/chat-log.js';
import type { ChatMessage } from '../../src/apps/chat-protocol.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { StoredSession } from '../../src/store/store.js';

class RollbackStore extends MemoryStore {
  private keys(): string[] {
    return [...(this as unknown as { entries: Map<string, unknown> }).entries.keys()];
  }
  /** `back()` puts every key back as it is now (what was written since is gone). */
  async mark(): Promise<() => Promise<void>> {
    const saved = new Map<string, StoredSession>();
    for (const k of this.keys()) {
      const r = await this.get(k);
      if (r) saved.set(k, r);
    }
    return async () => {
      for (const k of this.keys()) if (!saved.has(k)) await this.destroy(k);
      for (const [k, r] of saved) {
        await this.destroy(k);
        for (let v = 1; v <= r.version; v++)
          await this.set(k, r.data, { ttlMs: 60_000, principal: r.principal, tag: v === r.version ? r.tag : '' });
      }
    };
  }
}

const line = (text: string): ChatMessage =>
  ({ type: 'message', room: 'r', from: 'ada', text, ts: 1, id: text }) as unknown as ChatMessage;
const texts = (entries: LogEntry[]): string[] => entries.map((e) => `${e.seq}:${e.m.text}`);
/** What a node's feed holds: everything it delivered. */
const remembering = (entries: LogEntry[]): LogMemory => ({
  top: Math.max(0, ...entries.map((e) => e.seq)),
  entry: (seq) => entries.find((e) => e.seq === seq),
});

describe('the room log after a failover lost appends', () => {
  it("the appending node's own lost lines are appended again at their positions; new lines come after", async () => {
    const store = new RollbackStore({ sweepIntervalMs: 0 });
    const log = new RoomLog({ store });
    await log.append('r', [line('l1'), line('l2')], 'A', null);
    const back = await store.mark();
    expect(texts(await log.append('r', [line('l3'), line('l4')], 'A', null))).toEqual(['3:l3', '4:l4']);
    await back(); // the promoted replica: l3 and l4 never happened
    const next = await log.append('r', [line('l5')], 'A', null);
    expect(texts(next)).toEqual(['3:l3', '4:l4', '5:l5']);
    const read = await new RoomLog({ store }).read('r', 1);
    expect(texts(read.entries)).toEqual(['1:l1', '2:l2', '3:l3', '4:l4', '5:l5']);
    expect(read.trimmed).toBe(0);
    expect(log.repaired).toEqual({ restored: 2, skipped: 0 });
    await store.close();
  });

  it("another node, whose known head is the promoted replica's (its compare-and-set would succeed), restores what its members got", async () => {
    const store = new RollbackStore({ sweepIntervalMs: 0 });
    const a = new RoomLog({ store });
    const b = new RoomLog({ store });
    const delivered: LogEntry[] = [...(await a.append('r', [line('l1')], 'A', null))];
    delivered.push(...(await b.append('r', [line('b1')], 'B', null))); // B's head: version 2, its tag
    const back = await store.mark();
    delivered.push(...(await a.append('r', [line('l3'), line('l4')], 'A', null))); // announced, delivered on B too
    await back(); // the promoted replica holds B's version 2: B's next write would go over it
    const bEntries = await b.append('r', [line('b2')], 'B', null, [], remembering(delivered));
    expect(texts(bEntries)).toEqual(['3:l3', '4:l4', '5:b2']);
    const read = await new RoomLog({ store }).read('r', 1);
    expect(texts(read.entries)).toEqual(['1:l1', '2:b1', '3:l3', '4:l4', '5:b2']);
    expect(b.repaired).toEqual({ restored: 2, skipped: 0 });
    await store.close();
  });

  it('lines that are nowhere in memory: their positions are skipped, never numbered again, and a reader is told how many it missed', async () => {
    const store = new RollbackStore({ sweepIntervalMs: 0 });
    const a = new RoomLog({ store });
    for (let i = 1; i <= TAIL_ENTRIES + 2; i++) await a.append('r', [line(`l${i}`)], 'A', null);
    const back = await store.mark();
    await a.append('r', [line('lost1'), line('lost2')], 'A', null);
    await back();
    // Another node heard of positions up to TAIL_ENTRIES + 4 (announced) but holds none of them.
    const b = new RoomLog({ store });
    const got = await b.append('r', [line('b1')], 'B', null, [], { top: TAIL_ENTRIES + 4, entry: () => undefined });
    expect(texts(got)).toEqual([`${TAIL_ENTRIES + 5}:b1`]);
    expect(b.repaired).toEqual({ restored: 0, skipped: 2 });
    const read = await new RoomLog({ store }).read('r', TAIL_ENTRIES + 3);
    expect(read.trimmed).toBe(2);
    expect(texts(read.entries)).toEqual([`${TAIL_ENTRIES + 5}:b1`]);
    const all = await new RoomLog({ store }).read('r', 1);
    expect(all.entries.at(0)?.seq).toBe(TAIL_ENTRIES + 5); // the run after the gap (read's rule)
    await store.close();
  });
});

describe('chat across nodes: a failover lost appends that members already got', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });
  async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it("the next line reaches every member (it used to take a lost line's position, which members past it skip)", async () => {
    const store = new RollbackStore({ sweepIntervalMs: 0 });
    closers.push(() => store.close());
    const bus = new LocalBus();
    const nodes: ChatServer[] = [];
    for (const id of ['A', 'B']) {
      const s = await startChatServer(
        { bus, nodeId: id, presenceIntervalMs: 200, shared: { store } },
        { heartbeatMs: 0 },
      );
      closers.push(() => s.close());
      nodes.push(s);
    }
    const client = async (url: string, nick: string): Promise<ChatClient> => {
      const c = await ChatClient.connect(url, { nick, room: 'lost', heartbeatMs: 0 });
      closers.push(async () => c.abort());
      return c;
    };
    const ada = await client((nodes[0] as ChatServer).tcp, 'ada');
    const bob = await client((nodes[1] as ChatServer).tcp, 'bob');
    const got: string[] = [];
    bob.on('message', (m) => {
      if (!m.history) got.push(m.text);
    });
    await waitFor(() => ada.members.includes('bob'), "bob in ada's list");
    for (const t of ['x1', 'x2']) await ada.send(t);
    await waitFor(() => got.length === 2, 'x1, x2 at bob');
    const back = await store.mark();
    for (const t of ['x3', 'x4']) await ada.send(t);
    await waitFor(() => got.length === 4, 'x3, x4 at bob');
    await back(); // the promoted replica: x3 and x4 were never logged
    await ada.send('x5');
    await waitFor(() => got.length === 5, 'x5 at bob');
    expect(got).toEqual(['x1', 'x2', 'x3', 'x4', 'x5']);
    const read = await new RoomLog({ store }).read('lost', 1);
    expect(read.entries.map((e) => e.m.text)).toEqual(['x1', 'x2', 'x3', 'x4', 'x5']);
  });
});
