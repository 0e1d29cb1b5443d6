// ASP, the AppleTalk Session Protocol (Inside AppleTalk, 2nd ed., chapter 11): its requests and
// replies as the user bytes and data of ATP transactions. Pure: no I/O.
//
//   request (TReq)          user bytes                         data
//   01 CloseSession         01 SESSION 00 00                   -
//   02 Command              02 SESSION SEQ (2)                 command block
//   03 GetStatus            03 00 00 00                        -
//   04 OpenSession          04 WSS VERSION (2, 0x0100)         -
//   05 Tickle               05 SESSION 00 00                   -            (never answered)
//   06 Write                06 SESSION SEQ (2)                 command block
//   07 WriteContinue        07 SESSION SEQ (2, the Write's)    buffer size (2)
//   08 Attention            08 SESSION CODE (2)                -
//
//   reply (TResp), read by the request it answers:
//   OpenSession             SSS SESSION ERROR (2, signed)      -
//   Command, Write          CMD-RESULT (4, signed)             reply (up to 8 packets: the
//                                                              first packet's user bytes count)
//   GetStatus               00 00 00 00                        status block
//   WriteContinue           00 00 00 00                        the write data
//   CloseSession, Attention 00 00 00 00                        -
//
// A reply cannot be read alone: its meaning is the request's, as Wireshark's dissector also
// finds it (by the transaction ID). decodeAspReply therefore takes the request's function.

import { SessionError } from '../engine/errors.js';
import type { AtpPayload } from './atp.js';
import { AppletalkProtocolError, malformed } from './errors.js';

/** The ASP version this implementation speaks (OpenSession). */
export const ASP_VERSION = 0x0100;

export const ASP_FUNCTIONS = {
  CloseSession: 1,
  Command: 2,
  GetStatus: 3,
  OpenSession: 4,
  Tickle: 5,
  Write: 6,
  WriteContinue: 7,
  Attention: 8,
} as const;
export type AspFunction = keyof typeof ASP_FUNCTIONS;

/** ASP's SPError codes (Inside AppleTalk 11-23). */
export const ASP_ERRORS = {
  0: 'NoError',
  [-1066]: 'BadVersNum',
  [-1067]: 'BufTooSmall',
  [-1068]: 'NoMoreSessions',
  [-1069]: 'NoServers',
  [-1070]: 'ParamErr',
  [-1071]: 'ServerBusy',
  [-1072]: 'SessClosed',
  [-1073]: 'SizeErr',
  [-1074]: 'TooManyClients',
  [-1075]: 'NoAck',
} as const satisfies Record<number, string>;

export function aspErrorName(code: number): string {
  return (ASP_ERRORS as Record<number, string>)[code] ?? `error ${code}`;
}

export type AspRequest =
  | { readonly fn: 'CloseSession'; readonly session: number }
  | { readonly fn: 'Command'; readonly session: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly fn: 'GetStatus' }
  | { readonly fn: 'OpenSession'; readonly wss: number; readonly version: number }
  | { readonly fn: 'Tickle'; readonly session: number }
  | { readonly fn: 'Write'; readonly session: number; readonly seq: number; readonly data: Uint8Array }
  | { readonly fn: 'WriteContinue'; readonly session: number; readonly seq: number; readonly bufferSize: number }
  | { readonly fn: 'Attention'; readonly session: number; readonly code: number };

export type AspReply =
  | { readonly fn: 'CloseSession' }
  | { readonly fn: 'Command' | 'Write'; readonly result: number; readonly data: Uint8Array }
  | { readonly fn: 'GetStatus'; readonly status: Uint8Array }
  | { readonly fn: 'OpenSession'; readonly sss: number; readonly session: number; readonly error: number }
  | { readonly fn: 'WriteContinue'; readonly data: Uint8Array }
  | { readonly fn: 'Attention' };

const EMPTY = new Uint8Array(0);

function refuse(field: string, why: string): never {
  throw new SessionError('ERR_INVALID_ARGUMENT', `cannot encode ASP ${field}: ${why}`, 'local', { field });
}

function u(field: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) refuse(field, `${v} is not 0..${max}`);
  return v;
}

const word = (a: number, b: number, c: number): number => ((a << 24) | (b << 16) | c) >>> 0;

export function encodeAspRequest(m: AspRequest): AtpPayload {
  const fn = ASP_FUNCTIONS[m.fn];
  switch (m.fn) {
    case 'CloseSession':
    case 'Tickle':
      return { user: word(fn, u('session', m.session, 255), 0), data: EMPTY };
    case 'Command':
    case 'Write':
      return { user: word(fn, u('session', m.session, 255), u('sequence number', m.seq, 0xffff)), data: m.data };
    case 'GetStatus':
      return { user: word(fn, 0, 0), data: EMPTY };
    case 'OpenSession':
      return { user: word(fn, u('WSS', m.wss, 255), u('version', m.version, 0xffff)), data: EMPTY };
    case 'WriteContinue': {
      const size = u('buffer size', m.bufferSize, 0xffff);
      return {
        user: word(fn, u('session', m.session, 255), u('sequence number', m.seq, 0xffff)),
        data: Uint8Array.of(size >> 8, size & 0xff),
      };
    }
    case 'Attention':
      return { user: word(fn, u('session', m.session, 255), u('attention code', m.code, 0xffff)), data: EMPTY };
  }
}

function noData(data: Uint8Array, what: string): void {
  if (data.length > 0) malformed('asp', 'trailing-bytes', `${data.length} octets of data after ${what}`);
}

function zeroLow(user: number, what: string): void {
  if (user & 0xffff) malformed('asp', 'reserved-bits', `the last two user bytes of ${what} are not zero`);
}

/** The function a TReq's first user byte names, or undefined (not ASP). */
export function aspFunctionOf(user: number): AspFunction | undefined {
  const code = user >>> 24;
  return (Object.keys(ASP_FUNCTIONS) as AspFunction[]).find((k) => ASP_FUNCTIONS[k] === code);
}

export function decodeAspRequest(user: number, data: Uint8Array): AspRequest {
  const fn = aspFunctionOf(user);
  const session = (user >>> 16) & 0xff;
  const low = user & 0xffff;
  switch (fn) {
    case undefined:
      throw new AppletalkProtocolError(
        'ERR_UNKNOWN_FRAME_TYPE',
        'unknown-function',
        'asp',
        `ASP function ${user >>> 24}`,
        { fn: user >>> 24 },
      );
    case 'CloseSession':
    case 'Tickle':
      zeroLow(user, fn);
      noData(data, fn);
      return { fn, session };
    case 'Command':
    case 'Write':
      return { fn, session, seq: low, data };
    case 'GetStatus':
      if (session !== 0) malformed('asp', 'reserved-bits', 'the session byte of GetStatus is not zero');
      zeroLow(user, fn);
      noData(data, fn);
      return { fn };
    case 'OpenSession':
      noData(data, fn);
      return { fn, wss: session, version: low };
    case 'WriteContinue':
      if (data.length !== 2)
        malformed(
          'asp',
          data.length < 2 ? 'truncated' : 'trailing-bytes',
          `WriteContinue data of ${data.length} octets, the buffer size is 2`,
        );
      return { fn, session, seq: low, bufferSize: (data[0]! << 8) | data[1]! };
    case 'Attention':
      noData(data, fn);
      return { fn, session, code: low };
  }
}

export function encodeAspReply(m: AspReply): AtpPayload {
  switch (m.fn) {
    case 'CloseSession':
    case 'Attention':
      return { user: 0, data: EMPTY };
    case 'Command':
    case 'Write':
      if (!Number.isInteger(m.result) || m.result < -0x80000000 || m.result > 0x7fffffff)
        refuse('result', `${m.result} is not a signed 32-bit word`);
      return { user: m.result >>> 0, data: m.data };
    case 'GetStatus':
      return { user: 0, data: m.status };
    case 'WriteContinue':
      return { user: 0, data: m.data };
    case 'OpenSession':
      if (!Number.isInteger(m.error) || m.error < -0x8000 || m.error > 0x7fff)
        refuse('error', `${m.error} is not a signed 16-bit word`);
      return { user: word(u('SSS', m.sss, 255), u('session', m.session, 255), m.error & 0xffff), data: EMPTY };
  }
}

/** A reply's user bytes (its first packet's) and data, read as the answer to `fn`. */
export function decodeAspReply(fn: AspFunction, user: number, data: Uint8Array): AspReply {
  switch (fn) {
    case 'CloseSession':
    case 'Attention':
      if (user !== 0) malformed('asp', 'reserved-bits', `the user bytes of a ${fn} reply are not zero`);
      noData(data, `a ${fn} reply`);
      return { fn };
    case 'Command':
    case 'Write':
      return { fn, result: user | 0, data };
    case 'GetStatus':
    case 'WriteContinue':
      if (user !== 0) malformed('asp', 'reserved-bits', `the user bytes of a ${fn} reply are not zero`);
      return fn === 'GetStatus' ? { fn, status: data } : { fn, data };
    case 'OpenSession': {
      noData(data, 'an OpenSession reply');
      const error = user & 0xffff;
      return { fn, sss: user >>> 24, session: (user >>> 16) & 0xff, error: error >= 0x8000 ? error - 0x10000 : error };
    }
    case 'Tickle':
      throw new AppletalkProtocolError(
        'ERR_UNKNOWN_FRAME_TYPE',
        'unknown-function',
        'asp',
        'a reply to a Tickle: tickles are never answered',
      );
  }
}
