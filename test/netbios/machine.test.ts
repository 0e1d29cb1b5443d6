// NetbiosMachine pairs on a virtual clock (no sockets, no timers): a calling and a called machine
// wired back to back, bytes moved by hand. Session request with positive, negative and retarget
// responses, keep-alives, the deadlines, and the octets on the wire (facts file probes).

import { describe, expect, it } from 'vitest';
import { NetbiosMachine, parseNetbiosName, type NetbiosEvent } from '../../src/netbios/index.js';
import { concat, FACTS_MALFORMED_F, FACTS_REQUEST_A, FACTS_RETARGET_K, hex, toHex } from './cases.js';

const called = parseNetbiosName('*SMBSERVER', 0x20);
const calling = parseNetbiosName('NODECLIENT', 0x00);

function caller(options: { maxRetargets?: number } = {}): NetbiosMachine {
  return new NetbiosMachine({
    role: 'calling',
    called,
    calling,
    maxRetargets: options.maxRetargets ?? 4,
    timeoutMs: 1000,
  });
}
function callee(): NetbiosMachine {
  return new NetbiosMachine({ role: 'called', requestTimeoutMs: 2000 });
}

function bytesOf(m: NetbiosMachine): Uint8Array {
  const out: Uint8Array[] = [];
  for (let b = m.pollBytes(); b; b = m.pollBytes()) out.push(b);
  return concat(out);
}
function eventsOf(m: NetbiosMachine): NetbiosEvent[] {
  const out: NetbiosEvent[] = [];
  for (let e = m.pollEvent(); e; e = m.pollEvent()) out.push(e);
  return out;
}
/** Moves what each side sent to the other until both are quiet. */
function pump(a: NetbiosMachine, b: NetbiosMachine, now: number): void {
  for (let i = 0; i < 10; i++) {
    const ab = bytesOf(a);
    const ba = bytesOf(b);
    if (ab.length === 0 && ba.length === 0) return;
    if (ab.length) b.handleBytes(ab, now);
    if (ba.length) a.handleBytes(ba, now);
  }
  throw new Error('pump did not settle');
}
const types = (events: NetbiosEvent[]): string[] => events.map((e) => e.type);

describe('NetbiosMachine pair', () => {
  it('session request, positive response, messages both ways; keep-alives skipped', () => {
    const a = caller();
    const b = callee();
    a.handleTransportUp(0, 'B');
    b.handleTransportUp(0, 'A');
    expect(toHex(bytesOf(a))).toBe(toHex(FACTS_REQUEST_A));
    b.handleBytes(FACTS_REQUEST_A, 1);
    const [request] = eventsOf(b);
    expect(request).toMatchObject({ type: 'request', called, calling });
    b.answer({ kind: 'accept' }, 2);
    expect(toHex(bytesOf(b))).toBe(toHex(hex('82 00 00 00')));
    a.handleBytes(hex('85 00 00 00 82 00 00 00'), 3);
    expect(types(eventsOf(a))).toEqual(['established']);
    expect(types(eventsOf(b))).toEqual(['established']);
    expect(a.nextDeadline()).toBeUndefined();
    expect(b.nextDeadline()).toBeUndefined();
    a.send(hex('be ef'));
    a.keepAlive();
    b.send(hex('77'));
    const sent = bytesOf(a);
    expect(toHex(sent)).toBe(toHex(hex('00 00 00 02 be ef 85 00 00 00')));
    b.handleBytes(sent, 4);
    a.send(hex('01'));
    pump(a, b, 4);
    expect(eventsOf(b)).toEqual([
      { type: 'message', data: hex('be ef') },
      { type: 'message', data: hex('01') },
    ]);
    expect(eventsOf(a)).toEqual([{ type: 'message', data: hex('77') }]);
  });

  it('the request at every split point, keep-alives before it, answered after the deadline moved nowhere', () => {
    const stream = concat([hex('85 00 00 00'), FACTS_REQUEST_A]);
    for (let at = 0; at <= stream.length; at++) {
      const b = callee();
      b.handleTransportUp(100, 'A');
      b.handleBytes(stream.subarray(0, at), 150);
      b.handleBytes(stream.subarray(at), 200);
      expect(types(eventsOf(b))).toEqual(['request']);
      expect(b.nextDeadline()).toBe(2100);
    }
  });

  it('negative response: the caller ends with ERR_NETBIOS_REFUSED; the callee closes gracefully, cut at requestTimeoutMs', () => {
    const a = caller();
    const b = callee();
    a.handleTransportUp(0, 'B');
    b.handleTransportUp(0, 'A');
    pump(a, b, 0);
    eventsOf(b);
    b.answer({ kind: 'refuse', errorCode: 0x82 }, 10);
    expect(toHex(bytesOf(b))).toBe(toHex(hex('83 00 00 01 82')));
    expect(eventsOf(b)).toEqual([{ type: 'close', graceful: true }]);
    a.handleBytes(hex('83 00 00 01 82'), 11);
    const [close, ended] = eventsOf(a);
    expect(close).toMatchObject({ type: 'close', graceful: false });
    expect(ended).toMatchObject({
      type: 'ended',
      error: {
        code: 'ERR_NETBIOS_REFUSED',
        details: { errorCode: 0x82, reason: 'called name not present', remote: 'B' },
      },
    });
    expect(b.nextDeadline()).toBe(2010);
    b.handleTimeout(2009);
    expect(eventsOf(b)).toEqual([]);
    b.handleTimeout(2010);
    expect(eventsOf(b)).toEqual([{ type: 'close', graceful: false }]);
    b.handleTransportClosed(2011);
    expect(eventsOf(b)).toEqual([{ type: 'ended' }]);
  });

  it('retarget: the caller follows the hop with the same request on the next transport, and gives up past maxRetargets', () => {
    const a = caller({ maxRetargets: 1 });
    a.handleTransportUp(0, 'B');
    const request = bytesOf(a);
    a.handleBytes(FACTS_RETARGET_K, 5);
    expect(eventsOf(a)).toEqual([
      { type: 'close', graceful: false },
      { type: 'retarget', address: '127.0.0.1', port: 1139 },
    ]);
    expect(a.nextDeadline()).toBeUndefined();
    a.handleTransportClosed(6); // the old connection's close: not an error
    expect(eventsOf(a)).toEqual([]);
    a.handleTransportUp(10, '127.0.0.1');
    expect(toHex(bytesOf(a))).toBe(toHex(request));
    expect(a.nextDeadline()).toBe(1010);
    const b = callee();
    b.handleTransportUp(10, 'A');
    b.handleBytes(request, 11);
    eventsOf(b);
    b.answer({ kind: 'retarget', address: '127.0.0.1', port: 1139 }, 12);
    const answer = bytesOf(b);
    expect(toHex(answer)).toBe(toHex(FACTS_RETARGET_K));
    a.handleBytes(answer, 13);
    expect(eventsOf(a)[1]).toMatchObject({
      type: 'ended',
      error: { code: 'ERR_NETBIOS_TOO_MANY_RETARGETS', details: { maxRetargets: 1 } },
    });
    expect(a.hops).toHaveLength(2);
  });

  it('timeouts: no answer by timeoutMs, no request by requestTimeoutMs', () => {
    const a = caller();
    a.handleTransportUp(0, 'B');
    a.handleBytes(hex('85 00 00 00'), 500); // a keep-alive does not move the deadline
    a.handleTimeout(999);
    expect(eventsOf(a)).toEqual([]);
    a.handleTimeout(1000);
    expect(eventsOf(a)[1]).toMatchObject({
      type: 'ended',
      error: { code: 'ERR_NETBIOS_TIMEOUT', details: { timeoutMs: 1000 } },
    });
    const b = callee();
    b.handleTransportUp(0, 'A');
    b.handleTimeout(2000);
    expect(eventsOf(b)[1]).toMatchObject({
      type: 'ended',
      error: { code: 'ERR_NETBIOS_TIMEOUT', details: { timeoutMs: 2000 } },
    });
    // Deciding counts against the same deadline; a late answer is ignored.
    const c = callee();
    c.handleTransportUp(0, 'A');
    c.handleBytes(FACTS_REQUEST_A, 1);
    c.handleTimeout(2000);
    eventsOf(c);
    c.answer({ kind: 'accept' }, 2001);
    expect(bytesOf(c)).toHaveLength(0);
  });

  it('a malformed request gets NEGATIVE 0x82 and a graceful close, as smbd answers it', () => {
    const b = callee();
    b.handleTransportUp(0, 'A');
    b.handleBytes(FACTS_MALFORMED_F, 1);
    expect(toHex(bytesOf(b))).toBe(toHex(hex('83 00 00 01 82')));
    const events = eventsOf(b);
    expect(events[0]).toEqual({ type: 'close', graceful: true });
    expect(events[1]).toMatchObject({ type: 'ended', error: { reason: 'bad-length' } });
  });

  it('unexpected packets: a message before the request, a second request once established, a message in place of the answer', () => {
    const b = callee();
    b.handleTransportUp(0, 'A');
    b.handleBytes(hex('00 00 00 01 01'), 1);
    expect(eventsOf(b)[1]).toMatchObject({
      error: {
        code: 'ERR_NETBIOS_UNEXPECTED_PACKET',
        details: { packet: 'SESSION_MESSAGE', state: 'awaiting-request' },
      },
    });
    const c = callee();
    c.handleTransportUp(0, 'A');
    c.handleBytes(concat([FACTS_REQUEST_A, FACTS_REQUEST_A]), 1); // the second waits for the answer
    c.answer({ kind: 'accept' }, 2);
    expect(types(eventsOf(c))).toEqual(['request', 'established', 'close', 'ended']);
    const a = caller();
    a.handleTransportUp(0, 'B');
    a.handleBytes(hex('00 00 00 01 01'), 1);
    expect(eventsOf(a)[1]).toMatchObject({
      error: { code: 'ERR_NETBIOS_UNEXPECTED_PACKET', details: { state: 'requesting' } },
    });
  });

  it('a close before the answer: ERR_NETBIOS_CLOSED; a caller leaving before its request: no error', () => {
    const a = caller();
    a.handleTransportUp(0, 'B');
    a.handleTransportClosed(5);
    expect(eventsOf(a)).toMatchObject([{ type: 'ended', error: { code: 'ERR_NETBIOS_CLOSED' } }]);
    const b = callee();
    b.handleTransportUp(0, 'A');
    b.handleTransportClosed(5);
    expect(eventsOf(b)).toEqual([{ type: 'ended' }]);
  });
});
