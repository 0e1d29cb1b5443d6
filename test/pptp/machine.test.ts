// PptpMachine on a virtual clock (no sockets, no timers), paired with the scripted PAC of
// mock-peer.ts run over our codec: control connection start and stop, echo, an outgoing call
// placed and cleared, what the PNS answers on its own, and the reply deadline.

import { describe, expect, it } from 'vitest';
import { encodeMessage, PptpDecoder, PptpMachine, type PptpEvent, type PptpMessage } from '../../src/pptp/index.js';
import { toHex } from './cases.js';
import { GOOD_SCCRP, goodPac, type MockConnection, type Script } from './mock-peer.js';

/** The PAC side: decodes what the machine sent, answers with `script`, records what it got. */
function pair(script: Script = goodPac): {
  pns: PptpMachine;
  pac: MockConnection & { ended: boolean };
  pump(now: number): void;
  events(): PptpEvent[];
} {
  const pns = new PptpMachine({ timeoutMs: 1000, hostName: 'pns', vendor: 'v' });
  pns.handleTransportUp(0, 'PAC');
  const decoder = new PptpDecoder();
  const toPns: Uint8Array[] = [];
  const pac = {
    received: [] as PptpMessage[],
    ended: false,
    send(m: PptpMessage | Uint8Array) {
      toPns.push(m instanceof Uint8Array ? m : encodeMessage(m));
    },
    end() {
      this.ended = true;
    },
    destroy() {
      this.ended = true;
    },
  };
  return {
    pns,
    pac,
    pump(now) {
      for (let b = pns.pollBytes(); b; b = pns.pollBytes()) {
        decoder.push(b);
        for (let m = decoder.next(); m; m = decoder.next()) {
          pac.received.push(m);
          script(m, pac);
        }
      }
      for (const b of toPns.splice(0)) pns.handleBytes(b, now);
    },
    events() {
      const out: PptpEvent[] = [];
      for (let e = pns.pollEvent(); e; e = pns.pollEvent()) out.push(e);
      return out;
    },
  };
}

describe('PptpMachine with a scripted PAC', () => {
  it('starts, echoes, places and clears a call, and stops (then closes gracefully)', () => {
    const p = pair();
    const start = p.pns.start(0);
    expect(p.pns.nextDeadline()).toBe(1000);
    p.pump(1);
    expect(p.events()).toEqual([{ type: 'reply', id: start, message: GOOD_SCCRP }]);
    expect(p.pns.state).toBe('established');
    expect(p.pac.received[0]).toEqual({
      type: 'START_CONTROL_CONNECTION_REQUEST',
      protocolVersion: 0x0100,
      framingCapabilities: 1,
      bearerCapabilities: 1,
      maximumChannels: 0,
      firmwareRevision: 1,
      hostName: 'pns',
      vendor: 'v',
    });
    expect(p.pns.nextDeadline()).toBeUndefined();

    const echo = p.pns.echo(10, 77);
    p.pump(11);
    expect(p.events()).toEqual([
      { type: 'reply', id: echo, message: { type: 'ECHO_REPLY', identifier: 77, resultCode: 1, errorCode: 0 } },
    ]);

    const call = p.pns.outgoingCall(20, { phoneNumber: '5551234' });
    p.pump(21);
    expect(p.events()[0]).toMatchObject({
      type: 'reply',
      id: call,
      message: { resultCode: 1, peerCallId: 1, callId: 1001 },
    });
    expect(p.pac.received.at(-1)).toMatchObject({
      type: 'OUTGOING_CALL_REQUEST',
      callId: 1,
      phoneNumber: '5551234',
      phoneNumberLength: 7,
    });
    const clear = p.pns.clearCall(30, 1);
    p.pump(31);
    expect(p.events()[0]).toMatchObject({
      type: 'reply',
      id: clear,
      message: { type: 'CALL_DISCONNECT_NOTIFY', callId: 1001, callStatistics: 'cleared' },
    });

    const stop = p.pns.stop(40);
    expect(p.pns.state).toBe('stopping');
    p.pump(41);
    expect(p.events()).toEqual([
      { type: 'close', graceful: true },
      { type: 'reply', id: stop, message: { type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 } },
    ]);
    expect(p.pns.state).toBe('closed');
    expect(p.pns.nextDeadline()).toBe(1041); // the graceful close is cut after timeoutMs
    p.pns.handleTimeout(1041);
    expect(p.events()).toEqual([{ type: 'close', graceful: false }]);
    p.pns.handleTransportClosed(1042);
    expect(p.events()).toEqual([{ type: 'ended' }]);
    expect(p.pns.nextDeadline()).toBeUndefined();
  });

  it('answers Echo-Request, Incoming-Call-Request and Stop-Control-Connection-Request on its own', () => {
    const p = pair();
    p.pns.start(0);
    p.pump(1);
    p.events();
    const echo = p.pns.echo(2);
    p.pns.handleBytes(encodeMessage({ type: 'ECHO_REQUEST', identifier: 9 }), 3);
    p.pns.handleBytes(
      encodeMessage({
        type: 'INCOMING_CALL_REQUEST',
        callId: 5,
        callSerialNumber: 1,
        bearerType: 1,
        physicalChannelId: 0,
        dialedNumberLength: 0,
        dialingNumberLength: 0,
        dialedNumber: '',
        dialingNumber: '',
        subaddress: '',
      }),
      3,
    );
    p.pns.handleBytes(encodeMessage({ type: 'STOP_CONTROL_CONNECTION_REQUEST', reason: 3 }), 3);
    const sent: string[] = [];
    for (let b = p.pns.pollBytes(); b; b = p.pns.pollBytes()) sent.push(toHex(b));
    const d = new PptpDecoder();
    for (const h of sent.slice(1)) d.push(Uint8Array.from(Buffer.from(h, 'hex')));
    expect(d.next()).toEqual({ type: 'ECHO_REPLY', identifier: 9, resultCode: 1, errorCode: 0 });
    expect(d.next()).toMatchObject({ type: 'INCOMING_CALL_REPLY', peerCallId: 5, resultCode: 3 });
    expect(d.next()).toEqual({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
    const events = p.events();
    expect(events[0]).toMatchObject({
      type: 'failed',
      id: echo,
      error: { code: 'ERR_PPTP_STOPPED', details: { reason: 3 } },
    });
    expect(events[1]).toEqual({ type: 'close', graceful: true });
  });

  it('a reply not in time fails every request and destroys the connection', () => {
    const p = pair(() => {});
    const start = p.pns.start(100);
    p.pump(101);
    p.pns.handleTimeout(1099);
    expect(p.events()).toEqual([]);
    p.pns.handleTimeout(1100);
    const [failed, close] = p.events();
    expect(failed).toMatchObject({
      type: 'failed',
      id: start,
      error: { code: 'ERR_PPTP_TIMEOUT', details: { waitingFor: 'START_CONTROL_CONNECTION_REPLY', timeoutMs: 1000 } },
    });
    expect(close).toMatchObject({ type: 'close', graceful: false });
    expect(p.pns.state).toBe('closed');
  });

  it('a refused start and a refused call fail with their typed errors', () => {
    const refuse: Script = (m, conn) => {
      if (m.type === 'START_CONTROL_CONNECTION_REQUEST') conn.send({ ...GOOD_SCCRP, resultCode: 4 });
    };
    const p = pair(refuse);
    const start = p.pns.start(0);
    p.pump(1);
    expect(p.events()).toMatchObject([
      { type: 'close', graceful: true },
      { type: 'failed', id: start, error: { code: 'ERR_PPTP_START_REFUSED', details: { resultCode: 4 } } },
    ]);
    const busy: Script = (m, conn) => {
      if (m.type === 'OUTGOING_CALL_REQUEST')
        conn.send({
          type: 'OUTGOING_CALL_REPLY',
          callId: 9,
          peerCallId: m.callId,
          resultCode: 4,
          errorCode: 0,
          causeCode: 0,
          connectSpeed: 0,
          packetReceiveWindowSize: 0,
          packetProcessingDelay: 0,
          physicalChannelId: 0,
        });
      else goodPac(m, conn);
    };
    const q = pair(busy);
    q.pns.start(0);
    q.pump(1);
    q.events();
    const call = q.pns.outgoingCall(2);
    q.pump(3);
    expect(q.events()).toMatchObject([
      { type: 'failed', id: call, error: { code: 'ERR_PPTP_CALL_REFUSED', details: { resultCode: 4 } } },
    ]);
    expect(q.pns.state).toBe('established');
  });

  it('commands outside the established state are refused at once; a malformed message fails the waiting request', () => {
    const p = pair(() => {});
    expect(() => p.pns.echo(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    const start = p.pns.start(0);
    p.pns.handleBytes(Uint8Array.from(Buffer.from('000c00011a2b3c4e00020000', 'hex')), 1); // bad magic cookie
    expect(p.events()).toMatchObject([
      { type: 'failed', id: start, error: { reason: 'bad-magic' } },
      { type: 'close', graceful: false },
    ]);
  });
});
