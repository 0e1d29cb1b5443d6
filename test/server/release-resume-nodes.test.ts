// A release whose end is lost in a cut, across nodes: two servers share one store (durable
// sessions); the client's session lives on the first; the release's last frame is lost to a
// cut and the client's RESUME reaches the SECOND server, which never held the session. The
// store's record of the ended session carries what answers it (ReleasedEnd: the first node's
// count, and its frames the client may lack, the DISCONNECT last), so the second server
// completes the release: the client closes normally, as it does against the same node
// (release-resume.test.ts). A wrong secret is still refused; and the machine's own answer and
// the stored one are the same frames.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/engine/codec/index.js';
import type { Frame } from '../../src/engine/frames.js';
import { ResumeRefuseReason } from '../../src/engine/frames.js';
import { answerReleasedResume, SessionMachine } from '../../src/engine/machine/index.js';
import type { SessionEvent } from '../../src/engine/machine/index.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { MemoryStore } from '../../src/store/memory-store.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.destroy();
});

async function link(
  port: number,
  onFrame: (f: Frame) => void,
): Promise<{ write(f: Frame): void; closed: Promise<void>; socket: net.Socket }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
  socket.on('data', (b) => {
    decoder.push(b);
    for (let f = decoder.next(); f; f = decoder.next()) onFrame(f);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { write: (f) => void socket.write(encodeFrame(f)), closed, socket };
}

const until = async (what: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

interface Cut {
  m: SessionMachine;
  events: SessionEvent[];
  second: number;
}

/**
 * Two nodes on one store; a bare client machine on the first. The client releases: its FINISH
 * is answered by the node's DISCONNECT, which the cut loses. The node's session is closed by
 * the release, and its end is in the store, before the client resumes (on the second node).
 */
async function releasedThenCut(): Promise<Cut> {
  const store = new MemoryStore();
  const options = { tcp: { port: 0 }, heartbeatMs: 0, durability: { store } } as const;
  const first = await listen(options);
  const secondNode = await listen(options);
  servers.push(first, secondNode);
  const m = new SessionMachine({ role: 'initiator', heartbeatMs: 0 });
  const events: SessionEvent[] = [];
  let cut = false;
  const l = await link(first.addresses.tcp as number, (f) => {
    if (cut) return;
    if (f.type === 'DISCONNECT') {
      cut = true;
      return;
    }
    m.handleFrame(f, Date.now());
  });
  const flush = (): void => {
    for (let f = m.pollFrame(Date.now()); f; f = m.pollFrame(Date.now())) {
      if (!cut) l.write(f);
    }
    for (let e = m.pollEvent(); e; e = m.pollEvent()) events.push(e);
  };
  m.handleTransportUp(Date.now());
  flush();
  await until(() => {
    flush();
    return m.state === 'established';
  });
  m.sendData(new TextEncoder().encode('before the release'));
  flush();
  const session = [...first.sessions.values()][0];
  if (!session) throw new Error('no session on the first node');
  const closed = new Promise<{ error?: unknown }>((resolve) => session.on('closed', resolve));
  m.release();
  await until(() => {
    flush();
    return cut;
  });
  l.socket.destroy();
  await l.closed;
  expect(await closed).toEqual({});
  m.handleTransportDown(Date.now());
  flush();
  // The first node wrote the ended record (write-behind): wait for it.
  await new Promise((r) => setTimeout(r, 100));
  return { m, events, second: secondNode.addresses.tcp as number };
}

async function resume(port: number, m: SessionMachine, events: SessionEvent[]): Promise<Frame[]> {
  const got: Frame[] = [];
  const up: { link?: { write(f: Frame): void } } = {};
  const flushTo = (l: { write(f: Frame): void }): void => {
    for (let f = m.pollFrame(Date.now()); f; f = m.pollFrame(Date.now())) l.write(f);
    for (let e = m.pollEvent(); e; e = m.pollEvent()) events.push(e);
  };
  const l = await link(port, (f) => {
    got.push(f);
    m.handleFrame(f, Date.now());
    if (up.link) flushTo(up.link);
  });
  up.link = l;
  m.handleTransportUp(Date.now());
  flushTo(l);
  await l.closed;
  return got;
}

describe('a release cut short, the client resuming on another node', () => {
  it('the DISCONNECT is lost: the other node sends it again from the store, the client closes normally', async () => {
    const { m, events, second } = await releasedThenCut();
    expect(m.state).toBe('interrupted');
    const frames = await resume(second, m, events);
    expect(frames.map((f) => f.type)).toEqual(['RESUMED', 'DISCONNECT']);
    expect(m.state).toBe('closed');
    expect(events.filter((e) => e.type === 'closed')).toEqual([{ type: 'closed' }]);
  });

  it('a wrong secret is refused by the other node', async () => {
    const { m, second } = await releasedThenCut();
    const got: Frame[] = [];
    const l = await link(second, (f) => got.push(f));
    l.write({ type: 'RESUME', sessionId: m.sessionId as Uint8Array, resumeSecret: new Uint8Array(16), received: 0 });
    await l.closed;
    expect(got).toMatchObject([{ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.closed }]);
  });
});

describe('answerReleasedResume', () => {
  it('gives the frames the released machine itself gives, for every count it holds', () => {
    // A pair of machines on a virtual clock: the initiator sends, then releases; the acceptor's
    // DISCONNECT (and two data frames before it) never reach the initiator.
    const now = 0;
    const a = new SessionMachine({ role: 'initiator', heartbeatMs: 0 });
    const b = new SessionMachine({
      role: 'acceptor',
      heartbeatMs: 0,
      sessionId: new Uint8Array(16).fill(1),
      resumeSecret: new Uint8Array(16).fill(2),
    });
    const pump = (from: SessionMachine, to: SessionMachine, deliver = true): void => {
      for (let f = from.pollFrame(now); f; f = from.pollFrame(now)) if (deliver) to.handleFrame(f, now);
    };
    a.handleTransportUp(now);
    b.handleTransportUp(now);
    pump(a, b);
    b.accept();
    pump(b, a);
    b.sendData(new TextEncoder().encode('one'));
    b.sendData(new TextEncoder().encode('two'));
    a.release();
    pump(a, b);
    b.respondRelease(true);
    pump(b, a, false); // lost: the data and the DISCONNECT
    b.handleTransportDown(now); // the cut: a released acceptor closes at it
    const end = b.releasedEnd();
    expect(end).not.toBeNull();
    expect(end?.frames.map((f) => f.type).at(-1)).toBe('DISCONNECT');
    for (let count = end?.base ?? 0; count <= (end?.base ?? 0) + (end?.frames.length ?? 0); count++) {
      const expected: Frame[] = [];
      b.handleTransportUp(now);
      b.handleFrame(
        {
          type: 'RESUME',
          sessionId: b.sessionId as Uint8Array,
          resumeSecret: b.resumeSecret as Uint8Array,
          received: count,
        },
        now,
      );
      for (let f = b.pollFrame(now); f; f = b.pollFrame(now)) expected.push(f);
      b.handleTransportDown(now);
      expect(answerReleasedResume(end as NonNullable<typeof end>, count)).toEqual(expected);
    }
    expect(answerReleasedResume(end as NonNullable<typeof end>, (end?.base ?? 0) - 1)[0]).toMatchObject({
      type: 'RESUME_REFUSED',
      reason: ResumeRefuseReason.invalid,
    });
  });
});
