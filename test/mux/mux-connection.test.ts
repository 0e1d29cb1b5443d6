// The mux record decoder: hex fixtures, every split point, and fuzz ("records or a destroyed
// connection with a coded error, nothing else").

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionPool } from '../../src/client/pool.js';
import { MUX_PREFACE, MuxConnection } from '../../src/mux/mux-connection.js';
import type { Transport, TransportHandlers } from '../../src/transport/transport.js';

/** A base transport that records writes and lets the test drive it by hand. */
function fakeBase(): Transport & { writes: Uint8Array[]; destroyed?: Error; handlers: TransportHandlers } {
  const t = {
    kind: 'tcp' as const,
    remoteAddress: 'fake:1',
    closed: false,
    writes: [] as Uint8Array[],
    destroyed: undefined as Error | undefined,
    handlers: { data() {}, drain() {}, close() {} } as TransportHandlers,
    setHandlers(h: TransportHandlers) {
      t.handlers = h;
    },
    write(b: Uint8Array) {
      t.writes.push(b);
      return true;
    },
    pause() {},
    resume() {},
    close() {
      t.closed = true;
    },
    destroy(e?: Error) {
      t.destroyed = e;
      t.closed = true;
    },
  };
  return t;
}

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));

function serverWith(received: Map<number, number[]>): { base: ReturnType<typeof fakeBase>; mux: MuxConnection } {
  const base = fakeBase();
  const mux = new MuxConnection(base, 'server', (ch) => {
    const id = Number(ch.remoteAddress.split('#')[1]);
    ch.setHandlers({
      data: (d) => {
        received.set(id, [...(received.get(id) ?? []), ...d]);
      },
      drain() {},
      close() {},
    });
  });
  return { base, mux };
}

// preface, channel 1 "hi", channel 2 three bytes, channel 1 closes, channel 300 (two-byte varint) "x"
const STREAM = hex('0f' + '0102' + '6869' + '0203' + '616263' + '0100' + 'ac0201' + '78');

describe('mux records', () => {
  it('decodes the hex fixture: two channels, a close, a two-byte channel id', () => {
    const received = new Map<number, number[]>();
    const { base, mux } = serverWith(received);
    mux.receive(STREAM);
    expect(base.destroyed).toBeUndefined();
    expect(received.get(1)).toEqual([0x68, 0x69]);
    expect(received.get(2)).toEqual([0x61, 0x62, 0x63]);
    expect(received.get(300)).toEqual([0x78]);
    expect(mux.size).toBe(2); // 1 closed; 2 and 300 open
  });

  it('gives the same result split at every point and byte by byte', () => {
    for (let split = 1; split < STREAM.length; split++) {
      const received = new Map<number, number[]>();
      const { mux } = serverWith(received);
      mux.receive(STREAM.subarray(0, split));
      mux.receive(STREAM.subarray(split));
      expect(received.get(2), `split ${split}`).toEqual([0x61, 0x62, 0x63]);
      expect(received.get(300), `split ${split}`).toEqual([0x78]);
    }
    const received = new Map<number, number[]>();
    const { mux } = serverWith(received);
    for (const b of STREAM) mux.receive(Uint8Array.of(b));
    expect(received.get(1)).toEqual([0x68, 0x69]);
  });

  it('client writes the preface once and frames each channel write', () => {
    const base = fakeBase();
    const mux = new MuxConnection(base, 'client');
    const a = mux.open();
    const b = mux.open();
    a.write(hex('6869'));
    b.write(hex('616263'));
    a.close();
    expect(base.writes.map((w) => Buffer.from(w).toString('hex'))).toEqual(['0f', '01026869', '0203616263', '0100']);
  });

  it('rejects a stream without the preface, an overlong varint, and an oversized record', () => {
    for (const bad of ['01', '0f' + 'ffffffffffffffffff01', '0f01' + 'ffffffff0f']) {
      const { base, mux } = serverWith(new Map());
      mux.receive(hex(bad));
      expect(base.destroyed, bad).toMatchObject({ code: 'ERR_MALFORMED_FRAME' });
    }
  });

  it('fuzz: any bytes give records or a destroyed connection with a coded error, never a throw', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 24 }), { maxLength: 8 }), (chunks) => {
        const { base, mux } = serverWith(new Map());
        mux.receive(Uint8Array.of(MUX_PREFACE));
        for (const c of chunks) mux.receive(c);
        if (base.destroyed) expect((base.destroyed as { code?: string }).code).toBe('ERR_MALFORMED_FRAME');
      }),
      { numRuns: process.env.CI ? 20_000 : 3_000 },
    );
  });
});

describe('ConnectionPool and a connection it is closing', () => {
  // The scale bench (100 sessions to a connection): sessions cut for silence left a connection
  // empty, the pool closed it after idleMs, and until the WebSocket close completed (a round
  // trip to a loaded server) the pool still handed it to new sessions, whose handshakes then
  // failed together with 'closed before accepted'.
  it('opens the next channel on a new connection, not on the one whose close is under way', async () => {
    const bases: ReturnType<typeof fakeBase>[] = [];
    const dial = (): Promise<Transport> => {
      const b = fakeBase();
      bases.push(b);
      return Promise.resolve(b);
    };
    const pool = new ConnectionPool({ idleMs: 0 });
    const first = await pool.channel('k', dial);
    first.close(); // the last channel: the idle timer starts
    // The pool closes the connection; this fake base never reports the close as done.
    await vi.waitFor(() => expect(bases[0]?.closed).toBe(true));
    const second = await pool.channel('k', dial);
    expect(bases.length).toBe(2);
    expect(second.write(Uint8Array.of(1))).toBe(true);
    expect(bases[1]?.writes.at(-1)).toEqual(Uint8Array.of(1, 1, 1)); // channel 1, length 1, the byte
  });
});
