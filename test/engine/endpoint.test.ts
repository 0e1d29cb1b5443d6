// PendingConnection (src/engine/endpoint.ts): the first bytes of a connection sorted into open,
// resume, multiplex and turn-away, from hex fixtures, whole, byte by byte and split at every
// point; the handshake deadline on a virtual clock; the refusal frames' exact wire bytes.

import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/engine/codec/index.js';
import { PendingConnection, turnAway } from '../../src/engine/endpoint.js';
import type { FirstFrameVerdict, PendingConnectionOptions } from '../../src/engine/endpoint.js';
import { AbortReason, RefuseReason, ResumeRefuseReason } from '../../src/engine/frames.js';
import { concat, hex, toHex } from './codec/cases.js';
import { FIXTURES } from './codec/fixtures.js';

const fixture = (name: string): { frame: unknown; bytes: Uint8Array } => {
  const f = FIXTURES.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return { frame: f.frame, bytes: hex(f.hex) };
};
const CONNECT = fixture('CONNECT');
const RESUME = fixture('RESUME');
const DATA = fixture('DATA "hi"');
const ascii = (text: string): string =>
  Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join(' ');

const OPTIONS: PendingConnectionOptions = { maxFrameSize: 1024, handshakeTimeoutMs: 5000, muxPreface: 0x0f };

/** Feeds the chunks at t=0; every chunk but the last must leave the verdict open. */
function sort(chunks: readonly Uint8Array[], options = OPTIONS): FirstFrameVerdict {
  const pending = new PendingConnection(options, 0);
  let verdict: FirstFrameVerdict | undefined;
  chunks.forEach((chunk, i) => {
    pending.handleBytes(chunk, i);
    const v = pending.poll();
    if (v && verdict) throw new Error('two verdicts');
    verdict ??= v;
  });
  expect(pending.poll()).toBeUndefined();
  if (!verdict) throw new Error('no verdict');
  return verdict;
}

function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [[bytes], Array.from(bytes, (b) => Uint8Array.of(b))];
  for (let at = 1; at < bytes.length; at++) out.push([bytes.subarray(0, at), bytes.subarray(at)]);
  return out;
}

describe('PendingConnection: open and resume', () => {
  it('a CONNECT opens, at every split point, with every byte read handed on', () => {
    for (const chunks of splits(CONNECT.bytes)) {
      const v = sort(chunks);
      expect(v.kind).toBe('open');
      if (v.kind !== 'open') return;
      expect(v.frame).toEqual(CONNECT.frame);
      expect(toHex(concat(v.chunks))).toBe(toHex(CONNECT.bytes));
    }
  });

  it('needs more bytes until the last byte of the CONNECT, whatever came before', () => {
    const pending = new PendingConnection(OPTIONS, 0);
    for (let i = 0; i < CONNECT.bytes.length - 1; i++) {
      pending.handleBytes(CONNECT.bytes.subarray(i, i + 1), 0);
      expect(pending.poll()).toBeUndefined();
      expect(pending.nextDeadline()).toBe(5000);
    }
    pending.handleBytes(CONNECT.bytes.subarray(-1), 0);
    expect(pending.poll()?.kind).toBe('open');
    expect(pending.nextDeadline()).toBeUndefined();
  });

  it('bytes behind the CONNECT in the same chunk are kept for the session', () => {
    const both = concat([CONNECT.bytes, DATA.bytes]);
    for (let at = 1; at < CONNECT.bytes.length; at++) {
      const v = sort([both.subarray(0, at), both.subarray(at)]);
      expect(v.kind).toBe('open');
      if (v.kind === 'open') expect(toHex(concat(v.chunks))).toBe(toHex(both));
    }
  });

  it('a RESUME resumes the session it names (hex id), at every split point', () => {
    for (const chunks of splits(RESUME.bytes)) {
      const v = sort(chunks);
      expect(v.kind).toBe('resume');
      if (v.kind !== 'resume') return;
      expect(v.frame).toEqual(RESUME.frame);
      expect(v.id).toBe('000102030405060708090a0b0c0d0e0f');
      expect(toHex(concat(v.chunks))).toBe(toHex(RESUME.bytes));
    }
  });

  it('the mux preface as first byte hands the connection to a mux, only when configured', () => {
    const bytes = hex('0f 01 02 03');
    const v = sort([bytes]);
    expect(v).toEqual({ kind: 'multiplex', chunks: [bytes] });
    const { muxPreface: _, ...plain } = OPTIONS;
    expect(sort([bytes], plain).kind).toBe('turn-away');
  });

  it('empty chunks change nothing', () => {
    const v = sort([new Uint8Array(0), CONNECT.bytes.subarray(0, 3), new Uint8Array(0), CONNECT.bytes.subarray(3)]);
    expect(v.kind).toBe('open');
  });
});

describe('PendingConnection: turn-away', () => {
  it('a first byte that opens neither CONNECT nor RESUME: ABORT protocol-error at once', () => {
    const pending = new PendingConnection(OPTIONS, 0);
    pending.handleBytes(DATA.bytes.subarray(0, 1), 0);
    const v = pending.poll();
    expect(v?.kind).toBe('turn-away');
    if (v?.kind !== 'turn-away') return;
    expect(v.error.code).toBe('ERR_PROTOCOL_VIOLATION');
    expect(v.error.origin).toBe('remote');
    expect(v.error.message).toBe('first byte 0x10 opens neither CONNECT nor RESUME');
    // ABORT: reason 1, message "expected CONNECT or RESUME" (26 = 0x1a octets), no user data.
    expect(toHex(encodeFrame(v.frame!))).toBe(`09 1c 01 1a ${ascii('expected CONNECT or RESUME')}`);
    expect(pending.nextDeadline()).toBeUndefined();
    pending.handleBytes(CONNECT.bytes, 1);
    expect(pending.poll()).toBeUndefined();
  });

  it('a CONNECT announcing more than maxFrameSize: ERR_FRAME_TOO_LARGE from the header alone, at every split', () => {
    // Length 1025 = varint 81 08, one past maxFrameSize 1024; no body byte is sent.
    for (const chunks of splits(hex('01 81 08'))) {
      const v = sort(chunks);
      expect(v.kind).toBe('turn-away');
      if (v.kind !== 'turn-away') return;
      expect(v.error.code).toBe('ERR_FRAME_TOO_LARGE');
      expect(v.frame).toMatchObject({ type: 'ABORT', reason: AbortReason.frameTooLarge });
    }
  });

  it('a CONNECT of exactly maxFrameSize is still waited for', () => {
    const pending = new PendingConnection(OPTIONS, 0);
    pending.handleBytes(hex('01 80 08'), 0); // 1024
    pending.handleBytes(new Uint8Array(1000), 0);
    expect(pending.poll()).toBeUndefined();
    expect(pending.bufferedBytes).toBe(1003);
  });

  it('a malformed CONNECT body (wrong magic): ABORT protocol-error, at every split', () => {
    const bad = Uint8Array.from(CONNECT.bytes);
    bad[2] = 0x00; // 'C' of the magic
    for (const chunks of splits(bad)) {
      const v = sort(chunks);
      expect(v.kind).toBe('turn-away');
      if (v.kind !== 'turn-away') return;
      expect(v.error.name).toBe('ProtocolError');
      expect(v.error.origin).toBe('remote');
      expect(v.frame).toMatchObject({ type: 'ABORT', reason: AbortReason.protocolError, message: v.error.message });
    }
  });

  it('no whole first frame by handshakeTimeoutMs: ABORT timeout, on a virtual clock', () => {
    const pending = new PendingConnection(OPTIONS, 1000);
    expect(pending.nextDeadline()).toBe(6000);
    pending.handleBytes(CONNECT.bytes.subarray(0, 10), 2000);
    pending.handleTimeout(5999);
    expect(pending.poll()).toBeUndefined();
    pending.handleTimeout(6000);
    const v = pending.poll();
    expect(v?.kind).toBe('turn-away');
    if (v?.kind !== 'turn-away') return;
    expect(v.error.code).toBe('ERR_HANDSHAKE_TIMEOUT');
    expect(v.error.message).toBe('no first frame within 5000 ms (handshakeTimeoutMs)');
    // ABORT: reason 4 (timeout), "handshake timeout" (17 = 0x11 octets).
    expect(toHex(encodeFrame(v.frame!))).toBe(`09 13 04 11 ${ascii('handshake timeout')}`);
    expect(pending.nextDeadline()).toBeUndefined();
    pending.handleBytes(CONNECT.bytes.subarray(10), 6001);
    expect(pending.poll()).toBeUndefined();
  });
});

describe('turnAway: what the server says from its own state', () => {
  const wire = (v: { frame?: Parameters<typeof encodeFrame>[0] }): string => toHex(encodeFrame(v.frame!));

  it('shutting down: REFUSE 6 "server shutting down"', () => {
    const v = turnAway.shuttingDown();
    expect(v.error.code).toBe('ERR_REFUSED');
    expect(wire(v)).toBe(`03 16 06 14 ${ascii('server shutting down')}`);
  });

  it('maxSessions: REFUSE congested naming the limit', () => {
    const v = turnAway.full(3);
    expect(v.error.details).toEqual({ limit: 'maxSessions' });
    expect(v.frame).toMatchObject({
      type: 'REFUSE',
      reason: RefuseReason.congested,
      message: 'server full (maxSessions 3)',
    });
  });

  it('per-address caps and pending handshakes: silent before a CONNECT, REFUSE after one', () => {
    expect(turnAway.pendingHandshakes().frame).toBeUndefined();
    const silent = turnAway.overAddressLimit('maxConnectionsPerAddress', 2, '10.0.0.1', false);
    expect(silent.frame).toBeUndefined();
    expect(silent.error.message).toBe('too many from 10.0.0.1: maxConnectionsPerAddress (2) reached');
    expect(turnAway.overAddressLimit('maxSessionsPerAddress', 2, '10.0.0.1', true).frame).toMatchObject({
      type: 'REFUSE',
      reason: RefuseReason.congested,
    });
  });

  it('resume refusals: RESUME_REFUSED with the reason and why the session ended', () => {
    expect(wire(turnAway.wrongSecret('ab'))).toBe(`06 14 02 ${ascii('wrong resume secret')}`);
    expect(turnAway.wrongSecret('ab').id).toBe('ab');
    expect(turnAway.ended('ab', ResumeRefuseReason.unknown).frame).toMatchObject({ message: 'no such session' });
    expect(turnAway.ended('ab', ResumeRefuseReason.closed).frame).toMatchObject({ message: 'the session has ended' });
    const expired = turnAway.ended('ab', ResumeRefuseReason.expired, 'ERR_RESUME_WINDOW_EXPIRED: gone');
    expect(expired.error.details).toEqual({
      reason: ResumeRefuseReason.expired,
      why: 'ERR_RESUME_WINDOW_EXPIRED: gone',
    });
    expect(expired.frame).toMatchObject({
      type: 'RESUME_REFUSED',
      reason: ResumeRefuseReason.expired,
      message: 'the server ended the session: ERR_RESUME_WINDOW_EXPIRED: gone',
    });
  });
});
