import { describe, expect, it } from 'vitest';
import { bytes, Pair, text } from '../support/pair.js';

describe('connect, data, resume', () => {
  it('connects with negotiated defaults and exchanges data with lazy acks', () => {
    const p = new Pair({ trace: true });
    p.establish();
    expect(p.A.machine.state).toBe('established');
    expect(p.B.machine.state).toBe('established');
    p.A.machine.sendData(bytes('hello'));
    p.B.machine.sendData(bytes('world'));
    p.settle();
    p.advance(100);
    expect(p.eventsOf(p.B, 'data').map((e) => e.type === 'data' && text(e.payload))).toEqual(['hello']);
    expect(p.eventsOf(p.A, 'data').map((e) => e.type === 'data' && text(e.payload))).toEqual(['world']);
    expect(p.ladder()).toEqual(['A>CONNECT', 'B>ACCEPT', 'A>DATA', 'B>DATA', 'A>ACK', 'B>ACK']);
    expect(p.A.machine.stats.acknowledged).toBe(1);
  });

  it('resumes after a cut mid-frame with nothing lost or duplicated', () => {
    const p = new Pair({ trace: true, a: { modes: ['fullDuplex'] } });
    p.establish();
    for (let i = 0; i < 10; i++) p.A.machine.sendData(bytes(`m${i}`));
    p.pump();
    p.cut(7);
    expect(p.A.machine.state).toBe('interrupted');
    for (let i = 10; i < 15; i++) p.A.machine.sendData(bytes(`m${i}`));
    p.connectTransport();
    p.settle();
    expect(p.eventsOf(p.A, 'resumed')).toHaveLength(1);
    const got = p.eventsOf(p.B, 'data').map((e) => e.type === 'data' && text(e.payload));
    expect(got).toEqual(Array.from({ length: 15 }, (_, i) => `m${i}`));
  });
});
