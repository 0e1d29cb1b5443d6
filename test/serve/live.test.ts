// The live view in-process: the wire tap exists only while someone watches, the ladder keeps at
// most LADDER_FRAMES frames for a new watcher, watch bounds hold, byte totals survive a resume,
// a closing session ends its watchers; frames are numbered, CONNECT/ACCEPT lead the ladder, and
// an interruption, the RESUME and the replayed frames appear as such.

import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import { listen, type Server } from '../../src/server/server.js';
import { CountingTransport } from '../../src/serve/counting.js';
import {
  LADDER_FRAMES,
  LiveSessions,
  MAX_WATCHERS_PER_SESSION,
  WatchError,
  describeFrame,
  type LadderFrame,
} from '../../src/serve/live.js';

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

async function setup(ladderLingerMs = 0): Promise<{ live: LiveSessions; url: string; sessions: Session[] }> {
  const live = new LiveSessions({ ladderLingerMs });
  const sessions: Session[] = [];
  server = await listen({ heartbeatMs: 0 });
  const { listenTcp } = await import('../../src/transport/tcp.js');
  const s = server;
  const l = await listenTcp({ host: '127.0.0.1', port: 0 }, (t) => s.accept(new CountingTransport(t)));
  s.on('session', (session) => {
    live.add(session, false);
    sessions.push(session);
    void (async () => {
      for await (const m of session) await session.send(m);
    })().catch(() => {});
  });
  const close = s.destroy.bind(s);
  s.destroy = async () => {
    await close();
    await l.close();
  };
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
    const stop = live.watch(
      c.id,
      (f) => frames.push(f),
      () => {
        ended++;
      },
    );
    expect(served.driver.wire.tap).toBeTypeOf('function');
    for (let i = 0; i < LADDER_FRAMES; i++) {
      await c.send(`m${i}`);
      await it.next();
    }
    expect(frames.filter((f) => f.type === 'DATA' && f.direction === 'in')).toHaveLength(LADDER_FRAMES);
    expect(frames.some((f) => f.type === 'DATA' && f.direction === 'out' && f.detail.includes('«m0»'))).toBe(true);

    // A second watcher gets at most LADDER_FRAMES kept frames, the newest last.
    const backlog: LadderFrame[] = [];
    const stop2 = live.watch(
      c.id,
      (f) => backlog.push(f),
      () => {},
    );
    expect(backlog.length).toBe(LADDER_FRAMES + 2); // with CONNECT and ACCEPT, recorded at the open
    expect(backlog.some((f) => f.detail.includes(`«m${LADDER_FRAMES - 1}»`))).toBe(true);
    stop2();
    stop();
    expect(served.driver.wire.tap).toBeUndefined();

    const stops: (() => void)[] = [];
    for (let i = 0; i < MAX_WATCHERS_PER_SESSION; i++)
      stops.push(
        live.watch(
          c.id,
          () => {},
          () => {
            ended++;
          },
        ),
      );
    expect(() =>
      live.watch(
        c.id,
        () => {},
        () => {},
      ),
    ).toThrow(WatchError);
    expect(() =>
      live.watch(
        '0'.repeat(32),
        () => {},
        () => {},
      ),
    ).toThrow(/no live session/);

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

    const serverClosed = new Promise<void>((resolve) => {
      if (served.closed) resolve();
      else served.once('closed', () => resolve());
    });
    await c.release();
    await serverClosed;
    expect(ended).toBe(MAX_WATCHERS_PER_SESSION);
    expect(live.has(c.id)).toBe(false);
  }, 60_000);

  it('numbers session frames, leads with CONNECT/ACCEPT, shows INTERRUPTED, RESUME and the replayed frames, and lingers for a reload', async () => {
    const { live, url, sessions } = await setup(60_000);
    const c = await connect(url, { heartbeatMs: 0 });
    const it = c[Symbol.asyncIterator]();
    const served = sessions[0] as Session;
    const frames: LadderFrame[] = [];
    const stop = live.watch(
      c.id,
      (f) => frames.push(f),
      () => {},
    );
    expect(frames.map((f) => `${f.direction} ${f.type}`)).toEqual(['in CONNECT', 'out ACCEPT']);
    expect(frames[1]?.detail).toMatch(/units=\[.*\] mode=\S+ serial=\d+ tokens=\[/);
    for (let i = 0; i < 3; i++) {
      await c.send(`m${i}`);
      await it.next();
    }
    const data = (d: 'in' | 'out') => frames.filter((f) => f.type === 'DATA' && f.direction === d).map((f) => f.n);
    expect(data('in')).toEqual([1, 2, 3]);
    expect(data('out')).toEqual([1, 2, 3]);
    stop();
    // The last watcher left: the tap lingers, so what happens next is still recorded.
    expect(served.driver.wire.tap).toBeTypeOf('function');
    // The server sends two frames the client never gets (the transport is gone), then the client resumes.
    const resumed = new Promise<void>((resolve) => c.on('resumed', () => resolve()));
    c.driver.pauseReading();
    served.driver.dropTransport();
    await served.send('lost-1');
    await served.send('lost-2');
    c.driver.resumeReading();
    await resumed;
    expect(new TextDecoder().decode((await it.next()).value)).toBe('lost-1');
    expect(new TextDecoder().decode((await it.next()).value)).toBe('lost-2');
    const again: LadderFrame[] = [];
    const stop2 = live.watch(
      c.id,
      (f) => again.push(f),
      () => {},
    );
    const types = again.map((f) => f.type);
    expect(types.slice(0, 2)).toEqual(['CONNECT', 'ACCEPT']);
    expect(types).toContain('INTERRUPTED');
    expect(types.indexOf('RESUME')).toBeGreaterThan(types.indexOf('INTERRUPTED'));
    // What went to the dying transport is sent again, marked replayed, numbered from the RESUME's
    // count on; what was queued after the drop goes out fresh. Either way #4 and #5, once each.
    const resume = again.find((f) => f.type === 'RESUME') as LadderFrame;
    const from = Number(/received=(\d+)/.exec(resume.detail)?.[1]);
    const replayed = again.filter((f) => f.replayed);
    expect(replayed.length).toBeGreaterThan(0);
    expect(replayed.map((f) => f.n)).toEqual(replayed.map((_, i) => from + 1 + i));
    expect(replayed.every((f) => f.type === 'DATA' && f.detail.includes('«lost'))).toBe(true);
    const lostAfterResume = again
      .slice(again.indexOf(resume))
      .filter((f) => f.direction === 'out' && f.detail.includes('«lost'));
    expect(lostAfterResume.map((f) => f.n)).toEqual([4, 5]);
    stop2();
    live.close();
    expect(served.driver.wire.tap).toBeUndefined();
    await c.release();
  }, 60_000);

  it('describes frames without secrets', () => {
    const text = describeFrame({
      type: 'RESUME',
      sessionId: new Uint8Array(16).fill(0xab),
      resumeSecret: new Uint8Array(16).fill(7),
      received: 3,
    } as never);
    expect(text).toContain('resumeSecret=(hidden)');
    expect(text).toContain('sessionId=abababab…');
    expect(text).not.toMatch(/0707/);
  });
});
