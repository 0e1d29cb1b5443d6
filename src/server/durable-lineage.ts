// A durable copy's own writes, told apart from everyone else's (durable.ts): after a Redis failover
// lost the newest writes, the head a copy finds may be one it wrote itself, older than the one it
// last stored. Pure: no store calls here.
//
// Theory of operation
//   Every head write of an incarnation (DurableHold) carries a tag `<epoch>:<n>`: the
//   incarnation's random epoch and a count. A stored head whose tag has the epoch is this
//   incarnation's own write, whichever one; nobody else writes that tag. The incarnation also
//   remembers its *origin*: the head its claim was written over (a session restored here), or
//   nothing (a session opened here: 0).
//
//   When a head write misses (the head is not the write this copy last stored) and the head is
//   one of this copy's own writes, or its origin (or absent, for a copy that opened the session),
//   then the store lost this copy's newer writes and nobody has written the head since: any
//   other writer (a node that claimed the session, a tombstone) writes a tag of its own. Such a
//   head is *in the lineage*: the copy writes its live snapshot over it (durable.ts persist),
//   its frames all written again (the chunks named by the lost heads may be lost too). That is
//   safe because the live copy holds everything the lost writes held and more: a machine's
//   state only moves forward, and what its peer has not acknowledged is still in its replay
//   buffer. The peer's counts match the live state, not the stored one, so the session goes on
//   with nothing lost or repeated. A head out of the lineage is another node's, and the copy
//   ends as taken over, as before.
//
//   What the lineage cannot see: a claim by another node that was itself lost in the failover
//   (its tag never reached the promoted replica). The copy then writes over its own older head;
//   the other node's next write misses and it ends its copy; the client's next RESUME is checked
//   by its counts against the state it finds (stale-state, docs/stores.md).

import type { Expected, StoredSession } from '../store/store.js';

/** The parts of a DurableHold the lineage reads. */
export interface Lineage {
  epoch: string;
  /** Tags written so far by this incarnation (the next tag's count). */
  writes: number;
  /** The head the incarnation began from: its claim's read (version and tag), or 0 (opened here). */
  origin: Expected;
}

/** The next write tag of `hold`: its epoch and its count. */
export function nextTag(hold: Lineage): string {
  return `${hold.epoch}:${hold.writes++}`;
}

/** Whether `tag` was written by the incarnation with this epoch. */
export function ownTag(epoch: string, tag: string): boolean {
  return tag.startsWith(`${epoch}:`);
}

/**
 * What a write of `hold` may go over when the head it last stored is gone (its write lost): the
 * stored head if it is in the lineage (one of its own writes, its origin, or nothing for a copy
 * that opened the session), else null (another writer's).
 */
export function lineageHead(
  hold: Lineage,
  stored: Pick<StoredSession, 'version' | 'tag'> | null,
  ended: boolean,
): Expected | null {
  if (stored === null) return hold.origin === 0 ? 0 : null;
  if (ended) return null; // a tombstone is written by the copy that ended, never taken back
  const at = { version: stored.version, tag: stored.tag };
  if (ownTag(hold.epoch, stored.tag)) return at;
  const o = hold.origin;
  return typeof o === 'object' && o.version === at.version && o.tag === at.tag ? at : null;
}
