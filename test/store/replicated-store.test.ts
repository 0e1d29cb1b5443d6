// The replicated store in the store conformance suite: each case gets a fresh 3-node cluster
// (three ReplicatedStore nodes in this process, linked all-to-all over loopback TCP with Colloquy
// sessions) and runs against node 0. Keys are random, so about two thirds of them are owned by
// another node: their writes, compare-and-sets and the concurrent-increment and concurrent-create
// races go through the network to the owner, which is what makes the atomicity cases meaningful
// here. The nodes share one fake clock (advance() moves it and sweeps every node).
//
// More replicated-store tests (writes spread over nodes, a joining node, cut links, a slow peer)
// are in test/cluster/replicated-store.test.ts.

import { describe, expect, it } from 'vitest';
import { ReplicatedStore } from '../../src/store/replicated-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { storeConformance } from './conformance.js';

const clusters = new WeakMap<SessionStore, { clock: { t: number }; nodes: ReplicatedStore[] }>();
let clusterNo = 0;
/** Writes node 0 sent to another owner over the whole suite (counted when each cluster closes). */
let remoteWrites = 0;

async function makeCluster(): Promise<SessionStore> {
  const clock = { t: 1_700_000_000_000 };
  const c = ++clusterNo;
  const nodes = await Promise.all(['a', 'b', 'c'].map((n) => ReplicatedStore.start({ nodeId: `${n}${c}`, now: () => clock.t, sweepIntervalMs: 0, clusterSecret: 'conformance' })));
  for (const node of nodes) node.setPeers(nodes.map((o) => ({ id: o.nodeId, url: o.url })));
  await Promise.all(nodes.map((n) => n.settled({ timeoutMs: 20_000 })));
  const head = nodes[0] as ReplicatedStore;
  const close = head.close.bind(head);
  head.close = async () => { remoteWrites += head.stats.requests.sent; await close(); await Promise.all(nodes.slice(1).map((n) => n.close())); };
  clusters.set(head, { clock, nodes });
  return head;
}

describe('replicated store (3 nodes, calls on node 0): conformance', () => {
  storeConformance({
    make: makeCluster,
    advance: async (s, ms) => {
      const c = clusters.get(s) as { clock: { t: number }; nodes: ReplicatedStore[] };
      c.clock.t += ms;
      for (const n of c.nodes) n.sweep();
    },
  });

  it('(the suite above sent writes to owners on other nodes, so its atomicity cases crossed the network)', () => {
    console.info(`replicated conformance: node 0 sent ${remoteWrites} writes to owners on other nodes`);
    expect(remoteWrites).toBeGreaterThan(50);
  });
});
