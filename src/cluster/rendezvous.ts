// Rendezvous (highest-random-weight) hashing: the order in which nodes are asked to own a key.
//
// Theory of operation
//   Every node scores every (node, key) pair with the same hash and sorts the members by score,
//   highest first (ties by node id), so all nodes that agree on membership agree on the order
//   without talking. Removing a node moves only the keys it was first for; adding one takes
//   only the keys it now scores highest on. The owner is the first member in that order that the
//   asking node considers eligible (replication-node.ts).

/** The members in `id`'s ownership order. */
export function rendezvous(members: string[], id: string): string[] {
  return members
    .map((m) => ({ m, h: score(m, id) }))
    .sort((a, b) => b.h - a.h || (a.m < b.m ? -1 : 1))
    .map((x) => x.m);
}

/** Rendezvous score: FNV-1a over node and key, then a murmur3 finaliser. */
export function score(node: string, key: string): number {
  let h = 0x811c9dc5;
  const s = `${node}\u0000${key}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
