// Data transfer (S-DATA, S-EXPEDITED-DATA, S-TYPED-DATA) and flow: lazy acks, the bounded send
// queue, half duplex and simplex rules.

import { describe, expect, it } from 'vitest';
import { bytes, established, eventsSince, expectRejected, ladderSince, mark, view } from './scenario.js';

const HALF = { modes: ['halfDuplex'] as const, units: ['typedData', 'expedited'] as const };

describe('data and flow', () => {
  it('full duplex: both send at once; each side acknowledges lazily with one cumulative ACK (ACKs included)', () => {
    const p = established({ a: { modes: ['fullDuplex'] } });
    const m = mark(p);
    p.A.machine.sendData(bytes('a1'));
    p.A.machine.sendData(bytes('a2'));
    p.B.machine.sendData(bytes('b1'));
    p.settle();
    // Delivered, but not yet acknowledged: acks wait ackDelayMs (20 ms).
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>DATA', 'A>DATA', 'B>DATA']);
    expect(p.A.machine.stats).toMatchObject({ sent: 2, received: 1, acknowledged: 0, replayFrames: 2 });
    p.advance(100);
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>DATA', 'A>DATA', 'B>DATA', 'A>ACK', 'B>ACK']);
    expect(p.wire.slice(-2).map((w) => w.frame)).toEqual([
      { type: 'ACK', received: 1 },
      { type: 'ACK', received: 2 },
    ]);
    expect(p.A.machine.stats).toMatchObject({ sent: 2, received: 1, acknowledged: 2, replayFrames: 0 });
    expect(p.B.machine.stats).toMatchObject({ sent: 1, received: 2, acknowledged: 1, replayFrames: 0 });
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'data', payload: 'a1' },
      { type: 'data', payload: 'a2' },
    ]);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'data', payload: 'b1' }]);
  });

  it('expedited data overtakes normal data still queued; typed data keeps its place', () => {
    const p = established();
    const m = mark(p);
    p.A.machine.sendData(bytes('d1'));
    p.A.machine.sendTyped(bytes('t1'));
    p.A.machine.sendExpedited(bytes('urgent'));
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>EXPEDITED', 'A>DATA', 'A>TYPED']);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'expedited', payload: 'urgent' },
      { type: 'data', payload: 'd1' },
      { type: 'typed', payload: 't1' },
    ]);
    expectRejected(p, () => p.A.machine.sendExpedited(new Uint8Array(65)), 'ERR_PAYLOAD_TOO_LARGE', { limit: 64 });
  });

  it('half duplex: only the data token holder sends; the other asks with PLEASE_TOKENS and gets GIVE_TOKENS', () => {
    const p = established({ a: HALF });
    const A = p.A.machine;
    const B = p.B.machine;
    expect(view(p.A).tokens).toEqual(['data']);
    expectRejected(p, () => B.sendData(bytes('no')), 'ERR_TOKEN_NOT_HELD', { token: 'data' });
    expectRejected(p, () => A.requestTokens(['data']), 'ERR_TOKEN_HELD', { token: 'data' });

    const m = mark(p);
    A.sendData(bytes('from A'));
    B.sendTyped(bytes('typed needs no token'));
    B.sendExpedited(bytes('nor expedited'));
    B.requestTokens(['data'], bytes('my turn'));
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>DATA', 'B>EXPEDITED', 'B>TYPED', 'B>PLEASE_TOKENS']);
    expect(eventsSince(p.A, m)).toEqual([
      { type: 'expedited', payload: 'nor expedited' },
      { type: 'typed', payload: 'typed needs no token' },
      { type: 'tokens-requested', tokens: ['data'], userData: 'my turn' },
    ]);

    const m2 = mark(p);
    A.giveTokens(['data']);
    expectRejected(p, () => A.sendData(bytes('too late')), 'ERR_TOKEN_NOT_HELD', { token: 'data' });
    p.settle();
    B.sendData(bytes('from B'));
    p.settle();
    expect(ladderSince(p, m2)).toEqual(['A>GIVE_TOKENS', 'B>DATA']);
    expect(eventsSince(p.B, m2)).toEqual([{ type: 'tokens-given', tokens: ['data'] }]);
    expect(eventsSince(p.A, m2)).toEqual([{ type: 'data', payload: 'from B' }]);
    expect(view(p.A).tokens).toEqual([]);
    expect(view(p.B).tokens).toEqual(['data']);
  });

  it('simplex: only the negotiated sender sends normal data', () => {
    const p = established({ a: { modes: ['simplex'], simplexSender: 'acceptor' } });
    expect(p.A.machine.negotiated).toMatchObject({ mode: 'simplex', simplexSender: 'acceptor' });
    expectRejected(p, () => p.A.machine.sendData(bytes('no')), 'ERR_NOT_SENDER');
    const m = mark(p);
    p.B.machine.sendData(bytes('yes'));
    p.A.machine.sendTyped(bytes('typed is fine'));
    p.settle();
    expect(ladderSince(p, m)).toEqual(['A>TYPED', 'B>DATA']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'data', payload: 'yes' }]);
    expect(eventsSince(p.B, m)).toEqual([{ type: 'typed', payload: 'typed is fine' }]);
  });

  it('flow control: a full replay buffer holds frames in the bounded send queue; ERR_SEND_BUFFER_FULL, then writable (ACKs included)', () => {
    const p = established({ a: { maxReplayFrames: 1, maxSendQueueBytes: 10 } });
    const A = p.A.machine;
    const m = mark(p);
    A.sendData(bytes('first'));
    p.pump();
    // The replay buffer holds one unacknowledged frame: the next ones wait in the send queue.
    A.sendData(bytes('12345678'));
    p.pump();
    expect(A.stats).toMatchObject({ sent: 1, queuedBytes: 8, replayFrames: 1 });
    expect(A.writableBytes).toBe(2);
    expectRejected(p, () => A.sendData(bytes('abc')), 'ERR_SEND_BUFFER_FULL', { queuedBytes: 8 });
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>DATA']);

    p.advance(100);
    expect(ladderSince(p, m, { acks: true })).toEqual(['A>DATA', 'B>ACK', 'A>DATA', 'B>ACK']);
    expect(eventsSince(p.A, m)).toEqual([{ type: 'writable' }]);
    expect(eventsSince(p.B, m)).toEqual([
      { type: 'data', payload: 'first' },
      { type: 'data', payload: '12345678' },
    ]);
    expect(A.stats).toMatchObject({ sent: 2, acknowledged: 2, queuedBytes: 0, replayFrames: 0 });
    A.sendData(bytes('abc'));
    p.settle();
    expect(p.B.events.slice(-1)).toEqual([{ type: 'data', payload: bytes('abc') }]);
  });

  it('a send queue filled exactly to its bound still takes a sync point; past the bound a command waits for writable', () => {
    // Clean-clone CI, chaos seed 2536612307: sixty-four 64 KiB messages filled the 4 MiB queue
    // exactly during a cut, and the sync point right after the last accepted send was refused.
    const p = established({ a: { maxReplayFrames: 1, maxSendQueueBytes: 10 } });
    const A = p.A.machine;
    A.sendData(bytes('first'));
    p.pump();
    A.sendData(bytes('12345'));
    A.sendData(bytes('67890'));
    expect(A.stats).toMatchObject({ queuedBytes: 10 });
    expect(A.hasRoomFor(1)).toBe(false);
    const minor = A.syncMinor({ userData: bytes('u') });
    expect(A.stats).toMatchObject({ queuedBytes: 11 });
    // Past the bound (the user data on top of a full queue): the next command is refused.
    expectRejected(p, () => A.syncMinor(), 'ERR_SEND_BUFFER_FULL', { queuedBytes: 11 });
    const m = mark(p);
    p.advance(100);
    expect(eventsSince(p.A, m)).toContainEqual({ type: 'writable' });
    expect(A.syncMinor()).toBe(minor + 1);
    p.settle();
    expect(eventsSince(p.B, m).filter((e) => e.type === 'data')).toEqual([
      { type: 'data', payload: 'first' },
      { type: 'data', payload: '12345' },
      { type: 'data', payload: '67890' },
    ]);
  });
});
