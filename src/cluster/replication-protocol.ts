// The replication protocol: what nodes of a replicated store say to each other, one JSON text
// per Colloquy data unit, and the strict parser for it.
//
// Each node dials every other node; the session it dialed carries only its own stream:
//
//   challenge {node, c}         the listening node's first message on an inbound session (node-identity.ts)
//   hello {node, ready, owner, mac?, sig?}  the dialer's first, once per session, answering the
//                               challenge (owner: false for a node that never owns keys)
//   snap  {e: [record, ...]}    its whole state, in chunks, right after hello
//   snap-end                    the snapshot is complete
//   up    {e: record, n?, ...}  one change it made (or merged as owner); with `n`, also the
//                               answer to request n of the receiving node
//   res   {n, ...}              an answer that changed nothing (version mismatch, no session, error)
//   ready                       it has bootstrapped and may own keys now
//   req   {n, op, ...}          a write for the receiving node to make as owner
//
// Because the answer to a request travels in the owner's own stream, a node can never miss a
// change it asked for: if that stream's session dies, the next one starts with a snapshot.
// Anything that does not parse is ERR_REPLICATION_PROTOCOL, and the link is aborted.

import { SessionError } from '../engine/errors.js';
import type { Replica } from './replica-state.js';
import type {} from './errors.js';

/** A record on the wire; the tag (10th) is left out when '' (and absent from peers older than tags). */
export type WireRecord =
  | [string, string | null, number, string | null, number, number, number, number, string]
  | [string, string | null, number, string | null, number, number, number, number, string, string];

export type Op =
  | {
      op: 'set';
      id: string;
      json: string;
      ttl: number;
      p?: string | null;
      expected: number | null;
      /** The write's tag (absent: ''), and the tag the stored write must carry (absent or null: any). */
      tag?: string;
      et?: string | null;
    }
  | { op: 'touch'; id: string; ttl: number }
  | { op: 'destroy'; id: string; only?: string };

export type Result = { v?: number | null; created?: boolean; ok?: boolean; principal?: string | null };

export type Message =
  | { t: 'challenge'; node: string; c: string }
  | { t: 'hello'; node: string; ready: boolean; owner?: boolean; mac?: string; sig?: string }
  | { t: 'snap'; e: Replica[] }
  | { t: 'snap-end' }
  | { t: 'ready' }
  | { t: 'up'; e: Replica; n?: number; r?: Result }
  | { t: 'res'; n: number; r?: Result; err?: { code: string; message: string } }
  | ({ t: 'req'; n: number } & Op);

export function toWire(r: Replica): WireRecord {
  const w: WireRecord = [r.id, r.json, r.version, r.principal, r.createdAt, r.updatedAt, r.expiresAt, r.rev, r.origin];
  return r.tag === '' ? w : [...w, r.tag];
}

export function encode(m: Message): string {
  if (m.t === 'snap') return JSON.stringify({ t: 'snap', e: m.e.map(toWire) });
  if (m.t === 'up') return JSON.stringify({ ...m, e: toWire(m.e) });
  return JSON.stringify(m);
}

const bad = (reason: string): SessionError =>
  new SessionError('ERR_REPLICATION_PROTOCOL', `a replication peer sent a bad message: ${reason}`, 'remote', {
    reason,
  });
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

function record(v: unknown): Replica {
  if (!Array.isArray(v) || (v.length !== 9 && v.length !== 10)) throw bad('a record is not a 9- or 10-element array');
  const [id, json, version, principal, createdAt, updatedAt, expiresAt, rev, origin, tag = ''] = v as unknown[];
  if (typeof id !== 'string' || !isStrOrNull(json) || !isStrOrNull(principal) || typeof origin !== 'string')
    throw bad('a record field has the wrong type');
  if (typeof tag !== 'string') throw bad('a record tag is not a string');
  if (!isNum(version) || !isNum(createdAt) || !isNum(updatedAt) || !isNum(expiresAt) || !isNum(rev))
    throw bad('a record number is not finite');
  return { id, json, version, tag, principal, createdAt, updatedAt, expiresAt, rev, origin };
}

function result(v: unknown): Result | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw bad('a result is not an object');
  const r = v as Record<string, unknown>;
  if (r.v !== undefined && r.v !== null && !isNum(r.v)) throw bad('a result version is not a number');
  if (r.created !== undefined && typeof r.created !== 'boolean') throw bad('result.created is not a boolean');
  if (r.ok !== undefined && typeof r.ok !== 'boolean') throw bad('result.ok is not a boolean');
  if (r.principal !== undefined && !isStrOrNull(r.principal)) throw bad('result.principal is not a string');
  return r as Result;
}

export function decode(text: string): Message {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not a JSON object');
  const m = v as Record<string, unknown>;
  switch (m.t) {
    case 'hello':
      if (typeof m.node !== 'string' || typeof m.ready !== 'boolean') throw bad('hello without node or ready');
      if (m.owner !== undefined && typeof m.owner !== 'boolean') throw bad('hello with a bad owner flag');
      if ((m.mac !== undefined && typeof m.mac !== 'string') || (m.sig !== undefined && typeof m.sig !== 'string'))
        throw bad('hello with a bad proof');
      return {
        t: 'hello',
        node: m.node,
        ready: m.ready,
        ...(m.owner === false ? { owner: false } : {}),
        ...(m.mac !== undefined ? { mac: m.mac as string } : {}),
        ...(m.sig !== undefined ? { sig: m.sig as string } : {}),
      };
    case 'challenge':
      if (typeof m.node !== 'string' || typeof m.c !== 'string' || m.c.length < 32)
        throw bad('challenge without node or random bytes');
      return { t: 'challenge', node: m.node, c: m.c };
    case 'snap':
      if (!Array.isArray(m.e)) throw bad('snap without records');
      return { t: 'snap', e: m.e.map(record) };
    case 'snap-end':
      return { t: 'snap-end' };
    case 'ready':
      return { t: 'ready' };
    case 'up': {
      if (m.n !== undefined && !isNum(m.n)) throw bad('up with a bad request number');
      const r = result(m.r);
      return { t: 'up', e: record(m.e), ...(m.n !== undefined ? { n: m.n as number } : {}), ...(r ? { r } : {}) };
    }
    case 'res': {
      if (!isNum(m.n)) throw bad('res without a request number');
      const r = result(m.r);
      let err: { code: string; message: string } | undefined;
      if (m.err !== undefined) {
        const e = m.err as Record<string, unknown> | null;
        if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || typeof e.message !== 'string')
          throw bad('res with a bad error');
        err = { code: e.code, message: e.message };
      }
      return { t: 'res', n: m.n, ...(r ? { r } : {}), ...(err ? { err } : {}) };
    }
    case 'req': {
      if (!isNum(m.n) || typeof m.id !== 'string') throw bad('req without a number or id');
      if (m.op === 'set') {
        if (typeof m.json !== 'string' || !isNum(m.ttl) || m.ttl <= 0) throw bad('set without json or ttl');
        if (m.expected !== null && !isNum(m.expected)) throw bad('set with a bad expected version');
        if (m.p !== undefined && !isStrOrNull(m.p)) throw bad('set with a bad principal');
        if (m.tag !== undefined && typeof m.tag !== 'string') throw bad('set with a bad tag');
        if (m.et !== undefined && !isStrOrNull(m.et)) throw bad('set with a bad expected tag');
        return {
          t: 'req',
          n: m.n,
          op: 'set',
          id: m.id,
          json: m.json,
          ttl: m.ttl,
          expected: m.expected as number | null,
          ...(m.p !== undefined ? { p: m.p as string | null } : {}),
          ...(m.tag !== undefined ? { tag: m.tag as string } : {}),
          ...(m.et !== undefined && m.et !== null ? { et: m.et as string } : {}),
        };
      }
      if (m.op === 'touch') {
        if (!isNum(m.ttl) || m.ttl <= 0) throw bad('touch without ttl');
        return { t: 'req', n: m.n, op: 'touch', id: m.id, ttl: m.ttl };
      }
      if (m.op === 'destroy') {
        if (m.only !== undefined && typeof m.only !== 'string') throw bad('destroy with a bad principal');
        return {
          t: 'req',
          n: m.n,
          op: 'destroy',
          id: m.id,
          ...(m.only !== undefined ? { only: m.only as string } : {}),
        };
      }
      throw bad(`unknown op ${String(m.op)}`);
    }
    default:
      throw bad(`unknown message type ${String(m.t)}`);
  }
}
