// The Memcached binary protocol as MemcachedStore (memcached-store.ts) speaks it through memjs.
//
// Theory of operation
//   memjs does not expose CAS, so the store builds its own binary requests (GET, SET, ADD,
//   DELETE, the last three optionally conditional on a CAS value) and sends them through memjs's
//   `perform`, which matches each reply to its request by the opaque sequence number. Replies are
//   reduced to an Outcome ('ok', 'exists': the CAS or ADD lost, 'missing': no such item); every
//   other status is an error: ERR_STORE_FULL for "too large" and "out of memory", otherwise
//   ERR_STORE_UNAVAILABLE. Memcached's expiry is whole seconds, relative up to 30 days and an
//   absolute Unix time past that (exptime).

import memjs, { type Client as MemjsClient, type Response as MemjsResponse } from 'memjs';
import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';

export type Outcome = 'ok' | 'exists' | 'missing';

export const OP = { GET: 0x00, SET: 0x01, ADD: 0x02, DELETE: 0x04 } as const;
export const STATUS = {
  OK: 0x00,
  NOT_FOUND: 0x01,
  EXISTS: 0x02,
  TOO_LARGE: 0x03,
  NOT_STORED: 0x05,
  NO_MEMORY: 0x82,
} as const;
const THIRTY_DAYS_S = 60 * 60 * 24 * 30;

export function request(
  c: MemjsClient,
  opcode: number,
  key: string,
  extras: Buffer = Buffer.alloc(0),
  value: Buffer = Buffer.alloc(0),
  cas?: Buffer,
): Promise<MemjsResponse> {
  c.incrSeq();
  const seq = c.seq;
  const keyBuf = Buffer.from(key, 'utf8');
  const header = memjs.Header.toBuffer({
    magic: 0x80,
    opcode,
    keyLength: keyBuf.length,
    extrasLength: extras.length,
    totalBodyLength: keyBuf.length + extras.length + value.length,
    opaque: seq,
    ...(cas ? { cas } : {}),
  });
  const buf = Buffer.concat([header, extras, keyBuf, value]);
  return new Promise((resolve, reject) => {
    c.perform(key, buf, seq, (error: Error | string | null, response?: MemjsResponse) => {
      if (error) reject(error instanceof Error ? error : new Error(String(error)));
      else resolve(response as MemjsResponse);
    });
  });
}

/** SET (conditional on `cas` when given) or ADD of `value` as JSON; `expiresAtMs` becomes Memcached's exptime. */
export async function storeItem(
  c: MemjsClient,
  opcode: number,
  key: string,
  value: unknown,
  expiresAtMs: number,
  cas?: Buffer,
): Promise<Outcome> {
  const extras = Buffer.alloc(8);
  extras.writeUInt32BE(0, 0);
  extras.writeUInt32BE(exptime(expiresAtMs), 4);
  const res = await request(c, opcode, key, extras, Buffer.from(JSON.stringify(value), 'utf8'), cas);
  switch (res.header.status) {
    case STATUS.OK:
      return 'ok';
    case STATUS.EXISTS:
    case STATUS.NOT_STORED:
      return 'exists';
    case STATUS.NOT_FOUND:
      return 'missing';
    default:
      throw statusError(res, opcode === OP.ADD ? 'add' : 'set');
  }
}

/** DELETE conditional on `cas`. */
export async function removeItem(c: MemjsClient, key: string, cas: Buffer): Promise<Outcome> {
  const res = await request(c, OP.DELETE, key, undefined, undefined, cas);
  switch (res.header.status) {
    case STATUS.OK:
      return 'ok';
    case STATUS.EXISTS:
      return 'exists';
    case STATUS.NOT_FOUND:
      return 'missing';
    default:
      throw statusError(res, 'delete');
  }
}

/** Memcached exptime: seconds from now up to 30 days, else a Unix time (clamped to 32 bits). */
export function exptime(atMs: number): number {
  const seconds = Math.max(1, Math.ceil((atMs - Date.now()) / 1000) + 1);
  if (seconds <= THIRTY_DAYS_S) return seconds;
  return Math.min(0xffffffff, Math.ceil(atMs / 1000) + 1);
}

export function statusError(res: MemjsResponse, op: string): SessionError {
  const status = res.header.status;
  if (status === STATUS.TOO_LARGE)
    return new SessionError('ERR_STORE_FULL', `memcached refused the ${op}: value too large for an item`, 'local', {
      limit: 'itemSize',
      op,
    });
  if (status === STATUS.NO_MEMORY)
    return new SessionError('ERR_STORE_FULL', `memcached refused the ${op}: out of memory`, 'local', {
      limit: 'memory',
      op,
    });
  return new SessionError(
    'ERR_STORE_UNAVAILABLE',
    `memcached ${op} failed with status 0x${status.toString(16)}`,
    'local',
    { op, status },
  );
}
