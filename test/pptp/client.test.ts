// The PNS client and the probe against a mock PAC built on our codec: the well-behaved exchange,
// what the client answers on its own, and a typed error for every way a reply can be wrong.

import { afterEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/engine/errors.js';
import {
  connectPptp,
  describeProbe,
  encodeMessage,
  PptpError,
  PptpProtocolError,
  probePptp,
  type PptpMessage,
} from '../../src/pptp/index.js';
import { hex, PPTPD_SCCRP } from './cases.js';
import { GOOD_SCCRP, goodPac, mockPeer, type MockPeer, type Script } from './mock-peer.js';

const peers: MockPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

async function peer(script?: Script, onConnect?: Parameters<typeof mockPeer>[1]): Promise<MockPeer> {
  const p = await mockPeer(script, onConnect);
  peers.push(p);
  return p;
}

/** A PAC that answers the Start-Control-Connection-Request with `reply` (octets or a message). */
const answerStart =
  (reply: Uint8Array | PptpMessage): Script =>
  (m, conn) => {
    if (m.type === 'START_CONTROL_CONNECTION_REQUEST') conn.send(reply);
    else goodPac(m, conn);
  };

function rejection(
  promise: Promise<unknown>,
): Promise<Error & { code: string; details: Record<string, unknown>; reason?: string }> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error as Error & { code: string; details: Record<string, unknown> },
  );
}

describe('against a well-behaved PAC', () => {
  it('starts, echoes, places and clears a call, and stops', async () => {
    const p = await peer();
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port, hostName: 'pns-test', vendor: 'v' });
    expect(conn.state).toBe('established');
    expect(conn.peer).toEqual(GOOD_SCCRP);
    const sent = p.connections[0]!.received[0]!;
    expect(sent).toEqual({
      type: 'START_CONTROL_CONNECTION_REQUEST',
      protocolVersion: 0x0100,
      framingCapabilities: 1,
      bearerCapabilities: 1,
      maximumChannels: 0,
      firmwareRevision: 1,
      hostName: 'pns-test',
      vendor: 'v',
    });

    expect(await conn.echo({ identifier: 77 })).toEqual({
      type: 'ECHO_REPLY',
      identifier: 77,
      resultCode: 1,
      errorCode: 0,
    });
    const call = await conn.outgoingCall({ phoneNumber: '5551234' });
    expect(call).toMatchObject({ resultCode: 1, peerCallId: 1, callId: 1001, connectSpeed: 64000 });
    expect(p.connections[0]!.received.at(-1)).toMatchObject({
      type: 'OUTGOING_CALL_REQUEST',
      callId: 1,
      phoneNumber: '5551234',
      phoneNumberLength: 7,
    });
    expect(await conn.clearCall(1)).toMatchObject({
      type: 'CALL_DISCONNECT_NOTIFY',
      callId: 1001,
      resultCode: 4,
      callStatistics: 'cleared',
    });
    expect(await conn.stop()).toEqual({ type: 'STOP_CONTROL_CONNECTION_REPLY', resultCode: 1, errorCode: 0 });
    expect(conn.closed).toBe(true);
    expect(p.connections[0]!.received.at(-1)).toEqual({ type: 'STOP_CONTROL_CONNECTION_REQUEST', reason: 1 });
  });

  it('reads a reply delivered one octet at a time', async () => {
    const p = await peer((m, conn) => {
      if (m.type !== 'START_CONTROL_CONNECTION_REQUEST') return goodPac(m, conn);
      for (const b of PPTPD_SCCRP) conn.send(Uint8Array.of(b));
    });
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port });
    expect(conn.peer).toMatchObject({ hostName: 'local', vendor: 'linux' });
    await conn.stop();
  });

  it("answers the peer's Echo-Request, Stop-Control-Connection-Request and Incoming-Call-Request on its own", async () => {
    const p = await peer((m, conn) => {
      if (m.type === 'START_CONTROL_CONNECTION_REQUEST') {
        conn.send(GOOD_SCCRP);
        conn.send({ type: 'ECHO_REQUEST', identifier: 0xfeedface });
        conn.send({
          type: 'INCOMING_CALL_REQUEST',
          callId: 9,
          callSerialNumber: 1,
          bearerType: 1,
          physicalChannelId: 0,
          dialedNumberLength: 0,
          dialingNumberLength: 0,
          dialedNumber: '',
          dialingNumber: '',
          subaddress: '',
        });
      } else if (m.type === 'INCOMING_CALL_REPLY') {
        conn.send({ type: 'STOP_CONTROL_CONNECTION_REQUEST', reason: 3 });
      }
    });
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port });
    // Never answered by this PAC: the peer's stop request ends the wait.
    const error = await rejection(conn.echo());
    expect(error).toBeInstanceOf(PptpError);
    expect(error).toMatchObject({
      code: 'ERR_PPTP_STOPPED',
      origin: 'remote',
      details: { reason: 3, reasonName: 'stop local shutdown' },
    });
    await conn.whenClosed();
    const types = p.connections[0]!.received.map((m) => m.type);
    expect(types).toEqual([
      'START_CONTROL_CONNECTION_REQUEST',
      'ECHO_REPLY',
      'INCOMING_CALL_REPLY',
      'ECHO_REQUEST',
      'STOP_CONTROL_CONNECTION_REPLY',
    ]);
    expect(p.connections[0]!.received[1]).toEqual({
      type: 'ECHO_REPLY',
      identifier: 0xfeedface,
      resultCode: 1,
      errorCode: 0,
    });
    expect(p.connections[0]!.received[2]).toMatchObject({ peerCallId: 9, resultCode: 3 });
    expect(p.connections[0]!.received[4]).toEqual({
      type: 'STOP_CONTROL_CONNECTION_REPLY',
      resultCode: 1,
      errorCode: 0,
    });
  });

  it('passes an unsolicited Call-Disconnect-Notify, Set-Link-Info and WAN-Error-Notify to onMessage', async () => {
    const seen: string[] = [];
    const p = await peer((m, conn) => {
      goodPac(m, conn);
      if (m.type === 'ECHO_REQUEST' && m.identifier === 1) {
        conn.send({ type: 'SET_LINK_INFO', peerCallId: 1, sendAccm: 0, receiveAccm: 0 });
        conn.send({
          type: 'WAN_ERROR_NOTIFY',
          peerCallId: 1,
          crcErrors: 0,
          framingErrors: 0,
          hardwareOverruns: 0,
          bufferOverruns: 0,
          timeoutErrors: 0,
          alignmentErrors: 0,
        });
        conn.send({
          type: 'CALL_DISCONNECT_NOTIFY',
          callId: 1001,
          resultCode: 1,
          errorCode: 0,
          causeCode: 0,
          callStatistics: '',
        });
        conn.send({ type: 'ECHO_REPLY', identifier: 999, resultCode: 1, errorCode: 0 });
      }
    });
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port, onMessage: (m) => seen.push(m.type) });
    await conn.echo();
    await conn.echo(); // the unsolicited messages arrived before this reply
    expect(seen).toEqual(['SET_LINK_INFO', 'WAN_ERROR_NOTIFY', 'CALL_DISCONNECT_NOTIFY', 'ECHO_REPLY']);
    await conn.stop();
  });

  it('refuses calls outside the established state', async () => {
    const p = await peer();
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port });
    await conn.stop();
    expect(() => conn.echo()).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE', origin: 'local' }));
  });

  it('probePptp returns the reply and the stop; describeProbe names the fields', async () => {
    const p = await peer();
    const result = await probePptp({ host: '127.0.0.1', port: p.port });
    expect(result.reply).toEqual(GOOD_SCCRP);
    expect(describeProbe(result)).toEqual({
      peer: `127.0.0.1:${p.port}`,
      protocolVersion: '1.0',
      resultCode: 1,
      result: 'successful channel establishment',
      errorCode: 0,
      error: 'none',
      framingCapabilities: { value: 3, names: ['asynchronous', 'synchronous'] },
      bearerCapabilities: { value: 1, names: ['analog'] },
      maximumChannels: 42,
      firmwareRevision: 0x0203,
      hostName: 'mock-pac',
      vendor: 'Colloquy tests',
      stop: { resultCode: 1, result: 'OK', errorCode: 0 },
    });
    expect(p.connections[0]!.received.map((m) => m.type)).toEqual([
      'START_CONTROL_CONNECTION_REQUEST',
      'STOP_CONTROL_CONNECTION_REQUEST',
    ]);
  });
});

describe('refusals are typed PptpErrors', () => {
  it('a Start-Control-Connection-Reply with result 4: ERR_PPTP_START_REFUSED', async () => {
    const p = await peer(answerStart({ ...GOOD_SCCRP, resultCode: 4 }));
    const error = await rejection(connectPptp({ host: '127.0.0.1', port: p.port }));
    expect(error).toBeInstanceOf(PptpError);
    expect(error).toMatchObject({
      code: 'ERR_PPTP_START_REFUSED',
      details: { resultCode: 4, result: 'requester is not authorized to establish a command channel' },
    });
  });

  it('the probe reports a refusal as a result, without a stop', async () => {
    const p = await peer(answerStart({ ...GOOD_SCCRP, resultCode: 2, errorCode: 4 }));
    const result = await probePptp({ host: '127.0.0.1', port: p.port });
    expect(result.stop).toBeUndefined();
    expect(describeProbe(result)).toMatchObject({
      resultCode: 2,
      result: 'general error',
      errorCode: 4,
      error: 'no resource',
      stop: null,
    });
  });

  it('an Outgoing-Call-Reply with result 4 (busy): ERR_PPTP_CALL_REFUSED', async () => {
    const p = await peer((m, conn) => {
      if (m.type === 'OUTGOING_CALL_REQUEST') {
        conn.send({
          type: 'OUTGOING_CALL_REPLY',
          callId: 0,
          peerCallId: m.callId,
          resultCode: 4,
          errorCode: 0,
          causeCode: 17,
          connectSpeed: 0,
          packetReceiveWindowSize: 0,
          packetProcessingDelay: 0,
          physicalChannelId: 0,
        });
      } else goodPac(m, conn);
    });
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port });
    expect(await rejection(conn.outgoingCall())).toMatchObject({
      code: 'ERR_PPTP_CALL_REFUSED',
      details: { resultCode: 4, result: 'busy', causeCode: 17 },
    });
    expect(conn.state).toBe('established');
    await conn.stop();
  });
});

describe('malformed replies give PptpProtocolErrors (typed, with a wire code and a reason)', () => {
  const withLength = (length: number): Uint8Array => {
    const out = PPTPD_SCCRP.slice();
    out[0] = length >> 8;
    out[1] = length & 0xff;
    return out;
  };
  const patched = (at: number, bytes: string): Uint8Array => {
    const out = PPTPD_SCCRP.slice();
    out.set(hex(bytes), at);
    return out;
  };
  const cases: Array<[string, Uint8Array, string, string]> = [
    ['a wrong magic cookie', patched(4, 'deadbeef'), 'ERR_MALFORMED_FRAME', 'bad-magic'],
    ['a reply of Length 150', withLength(150), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a Length below the header', withLength(8), 'ERR_MALFORMED_FRAME', 'bad-length'],
    ['a Length of 4096', withLength(4096), 'ERR_FRAME_TOO_LARGE', 'too-large'],
    ['Control Message Type 99', patched(8, '0063'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-control-type'],
    ['a management message', patched(2, '0002'), 'ERR_UNKNOWN_FRAME_TYPE', 'unknown-message-type'],
    [
      'an HTTP server',
      Uint8Array.from('HTTP/1.0 400 Bad Request\r\n\r\n', (c) => c.charCodeAt(0)),
      'ERR_FRAME_TOO_LARGE',
      'too-large',
    ],
  ];
  it.each(cases)('%s', async (_, reply, code, reason) => {
    const p = await peer(answerStart(reply));
    const error = await rejection(connectPptp({ host: '127.0.0.1', port: p.port }));
    expect(error).toBeInstanceOf(PptpProtocolError);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code, reason, origin: 'remote' });
  });

  it('a malformed message later on fails the waiting call and closes the connection', async () => {
    const p = await peer((m, conn) => {
      if (m.type === 'ECHO_REQUEST') {
        const reply = encodeMessage({ type: 'ECHO_REPLY', identifier: m.identifier, resultCode: 1, errorCode: 0 });
        reply.set(hex('00000000'), 4); // no magic cookie
        conn.send(reply);
      } else goodPac(m, conn);
    });
    const conn = await connectPptp({ host: '127.0.0.1', port: p.port });
    expect(await rejection(conn.echo())).toMatchObject({ code: 'ERR_MALFORMED_FRAME', reason: 'bad-magic' });
    await conn.whenClosed();
    expect(conn.state).toBe('closed');
  });

  it('an Echo-Reply in place of the Start-Control-Connection-Reply: ERR_PPTP_UNEXPECTED_MESSAGE', async () => {
    const p = await peer(answerStart({ type: 'ECHO_REPLY', identifier: 1, resultCode: 1, errorCode: 0 }));
    expect(await rejection(connectPptp({ host: '127.0.0.1', port: p.port }))).toMatchObject({
      code: 'ERR_PPTP_UNEXPECTED_MESSAGE',
      details: { message: 'ECHO_REPLY', state: 'starting' },
    });
  });

  it('a Start-Control-Connection-Request from the peer: ERR_PPTP_UNEXPECTED_MESSAGE', async () => {
    const p = await peer(
      answerStart({
        type: 'START_CONTROL_CONNECTION_REQUEST',
        protocolVersion: 0x100,
        framingCapabilities: 0,
        bearerCapabilities: 0,
        maximumChannels: 0,
        firmwareRevision: 0,
        hostName: '',
        vendor: '',
      }),
    );
    expect((await rejection(connectPptp({ host: '127.0.0.1', port: p.port }))).code).toBe(
      'ERR_PPTP_UNEXPECTED_MESSAGE',
    );
  });

  it('a peer that closes without a reply: ERR_PPTP_CLOSED', async () => {
    const p = await peer((m, conn) => conn.end());
    expect(await rejection(connectPptp({ host: '127.0.0.1', port: p.port }))).toMatchObject({
      code: 'ERR_PPTP_CLOSED',
      details: { waitingFor: 'START_CONTROL_CONNECTION_REPLY' },
    });
  });

  it('a peer that never answers: ERR_PPTP_TIMEOUT', async () => {
    const p = await peer(() => {});
    expect(await rejection(connectPptp({ host: '127.0.0.1', port: p.port, timeoutMs: 50 }))).toMatchObject({
      code: 'ERR_PPTP_TIMEOUT',
      details: { timeoutMs: 50 },
    });
  });

  it('an aborted signal rejects with its reason', async () => {
    const p = await peer(() => {});
    const controller = new AbortController();
    const pending = connectPptp({ host: '127.0.0.1', port: p.port, signal: controller.signal });
    await new Promise<void>((resolve) => (p.connections.length > 0 ? resolve() : setImmediate(resolve)));
    controller.abort(new Error('stop now'));
    expect((await rejection(pending)).message).toBe('stop now');
  });
});
