// Heartbeats and dead-peer detection: with heartbeatMs negotiated, a side that has sent nothing
// for one interval sends HEARTBEAT; a side that has heard nothing for two intervals drops the
// transport (close-transport) and the session is interrupted, ready to resume.

import { describe, expect, it, vi } from 'vitest';
import { bytes, established, eventsSince, ladderSince, mark } from './scenario.js';

const HB = 1000;

describe('heartbeat and dead peer', () => {
  it('an idle session exchanges HEARTBEAT frames once per interval and stays up', () => {
    const p = established({ a: { heartbeatMs: HB } });
    expect(p.B.machine.negotiated?.heartbeatMs).toBe(HB);
    const m = mark(p);
    const t0 = p.now;
    p.advance(2 * HB + 500);

    // A's last frame was CONNECT at t=0, B's was ACCEPT at t=1 (latency 1 ms).
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>HEARTBEAT', 'B>HEARTBEAT', 'A>HEARTBEAT', 'B>HEARTBEAT']);
    expect(p.wire.slice(m.wire).map((w) => w.t)).toEqual([1000, 1001, 2000, 2001]);
    expect(t0).toBeLessThan(1000);
    expect(eventsSince(p.A, m)).toEqual([]);
    expect(eventsSince(p.B, m)).toEqual([]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
  });

  it('traffic in both directions makes heartbeats unnecessary', () => {
    const p = established({ a: { heartbeatMs: HB } });
    const m = mark(p);
    for (let i = 0; i < 5; i++) {
      p.A.machine.sendData(bytes(`d${i}`));
      p.advance(HB / 2);
    }
    expect(ladderSince(p, m, { acks: true })).toEqual(Array.from({ length: 5 }, () => ['A>DATA', 'B>ACK']).flat());
  });

  it('a silent peer is detected within two intervals: close-transport, then interrupted; the session resumes', () => {
    const p = established({ a: { heartbeatMs: HB } });
    // B goes silent: its timers never fire, so it sends neither heartbeats nor acks.
    const frozen = [
      vi.spyOn(p.B.machine, 'nextDeadline').mockReturnValue(undefined),
      vi.spyOn(p.B.machine, 'handleTimeout').mockImplementation(() => {}),
    ];
    const lastHeard = 2; // ACCEPT reached A at t=2
    let detectedAt = -1;
    p.A.onEvent = (e) => {
      if (e.type === 'close-transport') detectedAt = p.now;
    };
    const m = mark(p);
    p.advance(3 * HB);

    expect(detectedAt).toBe(lastHeard + 2 * HB);
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>HEARTBEAT', 'A>HEARTBEAT']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'close-transport', error: { code: 'ERR_HEARTBEAT_TIMEOUT', origin: 'remote' } },
      { type: 'interrupted', error: { code: 'ERR_HEARTBEAT_TIMEOUT', origin: 'remote' } },
    ]);
    expect(p.A.machine.state).toBe('interrupted');
    expect(p.A.machine.isAttached).toBe(false);

    // The application closes the dead transport and connects again; the session resumes.
    for (const spy of frozen) spy.mockRestore();
    p.cut();
    expect(p.B.machine.state).toBe('interrupted');
    const m2 = mark(p);
    p.A.machine.sendData(bytes('still here'));
    p.connectTransport();
    p.settle();
    expect(ladderSince(p, m2)).toEqual(['A>RESUME', 'B>RESUMED', 'A>DATA']);
    expect(eventsSince(p.A, m2)).toEqual([{ type: 'resumed', replayed: 0 }]);
    expect(eventsSince(p.B, m2)).toEqual([
      { type: 'resumed', replayed: 0 },
      { type: 'data', payload: 'still here' },
    ]);
    expect([p.A.machine.state, p.B.machine.state]).toEqual(['established', 'established']);
  });
});
