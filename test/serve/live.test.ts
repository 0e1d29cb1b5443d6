// The live view in-process: the wire tap exists only while someone watches, the ladder keeps at
// most LADDER_FRAMES frames for a new watcher, watch bounds hold, byte totals survive a resume,
// and a closing session ends its watchers.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen, type Server } from '../../src/server/server.js';
import { CountingTransport } from '../../src/serve/counting.js';
import { LADDER_FRAMES, LiveSessions, MAX_WATCHERS_PER_SESSION, WatchError, describeFrame, type LadderFrame } from '../../src/serve/live.js';

let server: Server | undefined;
afterEach(async () => { await server?.destroy(); server = undefined; });

async function setup(): Promise<{ live: LiveSessions; url: string; sessions: Session[] }> {
  const live = new LiveSessions();
  const sessions: Session[] = [];
  server = await listen({ heartbeatMs: 0 });
  const { listenTcp } = await import('../../src/transport/tcp.js');
  const s = server;
  const l = await listenTcp({ host: '127.0.0.1', port: 0 }, (t) => s.accept(new CountingTransport(t)));
  s.on('session', (session) => {
    live.add(session, false);
    sessions.push(session);
    void (async () => { for await (const m of session) await session.send(m); })().catch(() => {});
  });
  const close = s.destroy.bind(s);
  s.destroy = async () => { await close(); await l.close(); };
  return { live, url: `tcp://127.0.0.1:${l.port}`, sessions };
}

describe('LiveSessions', () => {
  it('taps only while watched, keeps a bounded ladder, bounds watchers, ends watchers on close', async () => {
    const { live, url, sessions } = await setup();
    const c = await connect(url, { heartbeatMs: 0 });
    const it = c[Symbol.asyncIterator]();
    const served = sessions[0] as Session;
    expect(served.driver.wire.tap).toBeUndefined();

    const frames: LadderFrame[] = [];
    let ended = 0;
    const stop = live.watch(c.id, (f) => frames.push(f), () => { ended++; });
    expect(served.driver.wire.tap).toBeTypeOf('function');
    for (let i = 0; i < LADDER_FRAMES; i++) { await c.send(`m${i}`); await it.next(); }
    expect(frames.filter((f) => f.type === 'DATA' && f.direction === 'in')).toHaveLength(LADDER_FRAMES);
    expect(frames.some((f) => f.type === 'DATA' && f.direction === 'out' && f.detail.includes('«m0»'))).toBe(true);

    // A second watcher gets at most LADDER_FRAMES kept frames, the newest last.
    const backlog: LadderFrame[] = [];
    const stop2 = live.watch(c.id, (f) => backlog.push(f), () => {});
    expect(backlog.length).toBe(LADDER_FRAMES);
    expect(backlog.some((f) => f.detail.includes(`«m${LADDER_FRAMES - 1}»`))).toBe(true);
    stop2();
    stop();
    expect(served.driver.wire.tap).toBeUndefined();

    const stops: (() => void)[] = [];
    for (let i = 0; i < MAX_WATCHERS_PER_SESSION; i++) stops.push(live.watch(c.id, () => {}, () => { ended++; }));
    expect(() => live.watch(c.id, () => {}, () => {})).toThrow(WatchError);
    expect(() => live.watch('0'.repeat(32), () => {}, () => {})).toThrow(/no live session/);

    const info = live.list().find((x) => x.id === c.id);
    expect(info?.bytesIn).toBeGreaterThan(LADDER_FRAMES * 4);
    expect(info?.watchers).toBe(MAX_WATCHERS_PER_SESSION);

    // A resume on a new transport: the totals go on from where they were.
    const before = info?.bytesIn as number;
    const resumed = new Promise<void>((resolve) => c.on('resumed', () => resolve()));
    served.driver.dropTransport();
    await resumed;
    await c.send('after');
    await it.next();
    const after = live.list().find((x) => x.id === c.id);
    expect(after?.bytesIn).toBeGreaterThan(before);
    expect(after).toMatchObject({ resumes: 1, interruptions: 1 });

    const serverClosed = new Promise<void>((resolve) => { if (served.closed) resolve(); else served.once('closed', () => resolve()); });
    await c.release();
    await serverClosed;
    expect(ended).toBe(MAX_WATCHERS_PER_SESSION);
    expect(live.has(c.id)).toBe(false);
  }, 60_000);

  it('describes frames without secrets', () => {
    const text = describeFrame({ type: 'RESUME', sessionId: new Uint8Array(16).fill(0xab), resumeSecret: new Uint8Array(16).fill(7), received: 3 } as never);
    expect(text).toContain('resumeSecret=(hidden)');
    expect(text).toContain('sessionId=abababab…');
    expect(text).not.toMatch(/0707/);
  });
});
