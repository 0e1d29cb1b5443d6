// The Bus: node-to-node messages by topic, the contract the cluster's buses keep (RedisBus,
// PostgresBus) and the apps use (chat rooms across nodes), plus LocalBus for one process. It
// lives in the cluster layer, below the apps, so the buses need nothing from the apps.

/** Node-to-node messages by topic. Delivery is at most once and in order per publisher. */
export interface Bus {
  publish(topic: string, message: Uint8Array): Promise<void>;
  /** Resolves once the subscription is active; the returned function ends it. */
  subscribe(topic: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A Bus inside one process (one `serve` node). Handlers run on a later microtask, never inside publish. */
export class LocalBus implements Bus {
  private readonly topics = new Map<string, Set<(message: Uint8Array) => void>>();
  private closed = false;

  async publish(topic: string, message: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('the bus is closed');
    const handlers = this.topics.get(topic);
    if (!handlers) return;
    for (const handler of [...handlers]) queueMicrotask(() => handler(message));
  }

  async subscribe(topic: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>> {
    if (this.closed) throw new Error('the bus is closed');
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    const entry = (m: Uint8Array): void => handler(m);
    set.add(entry);
    return async () => {
      set.delete(entry);
      if (set.size === 0 && this.topics.get(topic) === set) this.topics.delete(topic);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
  }
}
