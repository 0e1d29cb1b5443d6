// A release whose end is lost in a cut, against a real server: the client's FINISH is answered
// with DISCONNECT, and the transport dies before the client's ACK of it arrives (or before the
// DISCONNECT itself arrives). The server's session is released at once; a RESUME afterwards is
// answered by the released session (RESUMED with its count, and the DISCONNECT again when the
// client lacks it), so a client in either position closes normally instead of being refused.
// The client here is a bare SessionMachine over a raw socket, so the test decides which frames
// are lost.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from '../../src/engine/codec/index.js';
import type { Frame } from '../../src/engine/frames.js';
import { ResumeRefuseReason } from '../../src/engine/frames.js';
import { SessionMachine } from '../../src/engine/machine/index.js';
import type { SessionEvent } from '../../src/engine/machine/index.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

/** A socket to the server whose frames go to `onFrame`; `write` sends frames. */
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
  return {
    write: (f) => {
      socket.write(encodeFrame(f));
    },
    closed,
    socket,
  };
}

const until = async (what: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** A client machine released up to the server's DISCONNECT, whose transport then dies; `dropDisconnect` loses the DISCONNECT too. */
async function releasedThenCut(
  dropDisconnect: boolean,
): Promise<{ port: number; m: SessionMachine; events: SessionEvent[]; serverClosed: Promise<unknown> }> {
  server = await listen({ tcp: { port: 0 }, heartbeatMs: 0 });
  const port = server.addresses.tcp as number;
  const m = new SessionMachine({ role: 'initiator', heartbeatMs: 0 });
  const events: SessionEvent[] = [];
  let sawDisconnect = false;
  const l = await link(port, (f) => {
    if (sawDisconnect) return; // the cut: nothing more is read, nothing more written (the ACK)
    if (f.type === 'DISCONNECT') sawDisconnect = true;
    if (f.type !== 'DISCONNECT' || !dropDisconnect) m.handleFrame(f, Date.now());
  });
  const flush = (): void => {
    for (let f = m.pollFrame(Date.now()); f; f = m.pollFrame(Date.now())) if (!sawDisconnect) l.write(f);
    for (let e = m.pollEvent(); e; e = m.pollEvent()) events.push(e);
  };
  m.handleTransportUp(Date.now());
  flush();
  await until(() => {
    flush();
    return m.state === 'established';
  });
  const session = [...(server as Server).sessions.values()][0];
  const serverClosed = new Promise((resolve) => session?.on('closed', resolve));
  m.release();
  flush();
  await until(() => {
    flush();
    return sawDisconnect;
  });
  flush();
  l.socket.destroy();
  await l.closed;
  m.handleTransportDown(Date.now());
  flush();
  return { port, m, events, serverClosed };
}

async function resume(port: number, m: SessionMachine, events: SessionEvent[]): Promise<Frame[]> {
  const got: Frame[] = [];
  const flushTo = (l: { write(f: Frame): void }): void => {
    for (let f = m.pollFrame(Date.now()); f; f = m.pollFrame(Date.now())) l.write(f);
    for (let e = m.pollEvent(); e; e = m.pollEvent()) events.push(e);
  };
  const up: { link?: { write(f: Frame): void } } = {};
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

describe('a release cut short, against a server', () => {
  it('the ACK of the DISCONNECT is lost: the server closes normally at once and answers a later RESUME with RESUMED', async () => {
    const { port, m, events, serverClosed } = await releasedThenCut(false);
    expect(m.state).toBe('closed');
    expect(await serverClosed).toEqual({});
    expect(events.filter((e) => e.type === 'closed')).toEqual([{ type: 'closed' }]);
    // A client that did get the DISCONNECT has no reason to come back; one that resumes anyway
    // (with the count it has) hears RESUMED with the server's count and nothing else.
    const got: Frame[] = [];
    const l = await link(port, (f) => got.push(f));
    l.write({
      type: 'RESUME',
      sessionId: m.sessionId as Uint8Array,
      resumeSecret: m.resumeSecret as Uint8Array,
      received: m.stats.received,
    });
    await l.closed;
    expect(got).toEqual([{ type: 'RESUMED', received: m.stats.sent }]);
  });

  it('the DISCONNECT itself is lost: the client resumes, gets it again, and closes normally', async () => {
    const { port, m, events, serverClosed } = await releasedThenCut(true);
    expect(m.state).toBe('interrupted');
    expect(await serverClosed).toEqual({});
    const frames = await resume(port, m, events);
    expect(frames.map((f) => f.type)).toEqual(['RESUMED', 'DISCONNECT']);
    expect(m.state).toBe('closed');
    expect(events.filter((e) => e.type === 'closed')).toEqual([{ type: 'closed' }]);
  });

  it('a wrong secret on a released session is still refused', async () => {
    const { port, m } = await releasedThenCut(true);
    const got: Frame[] = [];
    const l = await link(port, (f) => got.push(f));
    l.write({ type: 'RESUME', sessionId: m.sessionId as Uint8Array, resumeSecret: new Uint8Array(16), received: 0 });
    await l.closed;
    expect(got).toMatchObject([{ type: 'RESUME_REFUSED', reason: ResumeRefuseReason.wrongSecret }]);
  });
});
