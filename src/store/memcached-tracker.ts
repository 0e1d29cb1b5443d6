// The sessions a MemcachedStore (memcached-store.ts) remembers, so that its sweeper can reap them
// at their deadlines and emit `expired`.
//
// Theory of operation
//   Memcached cannot list what expires, so each store tracks the sessions it wrote, read or
//   touched: id -> deadline in a map (at most maxTracked; past that, new ids are not tracked),
//   and a min-heap of (deadline, id) entries. A changed deadline pushes a new heap entry; the old
//   one is skipped when popped because the map no longer agrees with it. When stale entries make
//   the heap more than four times the map (plus 1024), it is rebuilt from the map.

import { popMin, pushHeap, type Item } from './shared.js';

export class ExpiryTracker {
  private readonly tracked = new Map<string, number>();
  private readonly heap: Item[] = [];

  constructor(private readonly maxTracked: number) {}

  /** Remembers `id` as due at `at` (ignored when tracking is off or full). */
  track(id: string, at: number): void {
    if (this.maxTracked === 0) return;
    if (this.tracked.get(id) === at) return;
    if (!this.tracked.has(id) && this.tracked.size >= this.maxTracked) return;
    this.tracked.set(id, at);
    pushHeap(this.heap, { at, id });
    if (this.heap.length > 4 * this.tracked.size + 1024) {
      this.heap.length = 0;
      for (const [key, when] of this.tracked) pushHeap(this.heap, { at: when, id: key });
    }
  }

  untrack(id: string): void {
    this.tracked.delete(id);
  }

  /** Forgets, and returns, up to `limit` ids due by `now`. */
  takeDue(now: number, limit: number): string[] {
    const due: string[] = [];
    while (this.heap.length > 0 && (this.heap[0] as Item).at <= now && due.length < limit) {
      const { at, id } = popMin(this.heap);
      if (this.tracked.get(id) === at) {
        this.tracked.delete(id);
        due.push(id);
      }
    }
    return due;
  }

  clear(): void {
    this.tracked.clear();
    this.heap.length = 0;
  }
}
