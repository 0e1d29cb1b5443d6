// A small typed event emitter that runs in Node and in browsers (no node:events). It sits in
// src/util/, the lowest layer: the driver, the stores, the cluster and the apps all use it.

export type Listener<T> = (value: T) => void;

export class Emitter<Events extends Record<string, unknown>> {
  /** Created by the first `on` (most sessions of a server never get a listener). */
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } | undefined;

  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = (this.listeners ??= {});
    (listeners[type] ??= []).push(listener);
    return () => this.off(type, listener);
  }

  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (v) => {
      off();
      listener(v);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    const list = this.listeners?.[type];
    if (!list) return;
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const list = this.listeners?.[type];
    if (!list) return;
    for (const l of [...list]) {
      try {
        l(value);
      } catch (error) {
        // A throwing listener must not break the session; surface it asynchronously.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
