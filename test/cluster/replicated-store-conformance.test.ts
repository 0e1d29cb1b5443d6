// The replicated store in the store conformance suite: each case gets a fresh 3-node cluster
// (three ReplicatedStore nodes in this process, linked all-to-all over loopback TCP with Colloquy
// sessions) and runs against node 0. First with node 0 owning no key (`owner: false`), so every
// write, compare-and-set, and the concurrent-increment and concurrent-create races go through the
// network to an owner on another node: that is what makes the atomicity cases meaningful here.
// Then with node 0 an owner like the others (random keys: about a third are written locally).
// The nodes share one fake clock (advance() moves it and sweeps every node).
//
// More replicated-store tests (writes spread over nodes, a joining node, cut links, a slow peer)
// are in replicated-store.test.ts beside this file.

import { describe, expect, it } from 'vitest';
import { ReplicatedStore } from '../../src/cluster/replicated-store.js';
import type { SessionStore } from '../../src/store/store.js';
import { storeConformance } from '../store/conformance.js';

const clusters = new WeakMap<SessionStore, { clock: { t: number }; nodes: ReplicatedStore[] }>();
let clusterNo = 0;
/** Writes node 0 (owning no key) sent to owners on other nodes over the whole suite (counted when each cluster closes). */
let remoteWrites = 0;

async function makeCluster(headOwns: boolean): Promise<SessionStore> {
  const clock = { t: 1_700_000_000_000 };
  const c = ++clusterNo;
  const nodes = await Promise.all(
    ['a', 'b', 'c'].map((n, i) =>
      ReplicatedStore.start({
        nodeId: `${n}${c}`,
        now: () => clock.t,
        sweepIntervalMs: 0,
        clusterSecret: 'conformance',
        ...(i === 0 && !headOwns ? { owner: false } : {}),
      }),
    ),
  );
  for (const node of nodes) node.setPeers(nodes.map((o) => ({ id: o.nodeId, url: o.url })));
  await Promise.all(nodes.map((n) => n.settled({ timeoutMs: 20_000 })));
  const head = nodes[0] as ReplicatedStore;
  const close = head.close.bind(head);
  head.close = async () => {
    if (!headOwns) remoteWrites += head.stats.requests.sent;
    await close();
    await Promise.all(nodes.slice(1).map((n) => n.close()));
  };
  clusters.set(head, { clock, nodes });
  return head;
}

const advance = async (s: SessionStore, ms: number): Promise<void> => {
  const c = clusters.get(s) as { clock: { t: number }; nodes: ReplicatedStore[] };
  c.clock.t += ms;
  for (const n of c.nodes) n.sweep();
};

describe('replicated store (3 nodes, calls on node 0, which owns no key: every write crosses the network): conformance', () => {
  storeConformance({ make: () => makeCluster(false), advance });

  it('(the suite above sent every write of node 0 to an owner on another node)', () => {
    console.info(`replicated conformance: node 0 sent ${remoteWrites} writes to owners on other nodes`);
    expect(remoteWrites).toBeGreaterThan(100);
  });
});

describe('replicated store (3 nodes, calls on node 0, an owner like the others: writes local or remote by key): conformance', () => {
  storeConformance({ make: () => makeCluster(true), advance });
});
