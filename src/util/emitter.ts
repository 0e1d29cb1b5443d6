// A small typed event emitter that runs in Node and in browsers (no node:events). It sits in
// src/util/, the lowest layer: the driver, the stores, the cluster and the apps all use it.

export type Listener<T> = (value: T) => void;

export class Emitter<Events extends Record<string, unknown>> {
  /** Created by the first `on` (most sessions of a server never get a listener). */
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } | undefined;

  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = (this.listeners ??= {});
    // Lists are never changed in place (a new one on every on/off), so emit runs over the list
    // as it was without copying it per event.
    const list = listeners[type];
    listeners[type] = list ? [...list, listener] : [listener];
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
    const listeners = this.listeners;
    const list = listeners?.[type];
    if (!listeners || !list) return;
    const i = list.indexOf(listener);
    if (i >= 0) listeners[type] = [...list.slice(0, i), ...list.slice(i + 1)];
  }

  /** Whether `type` has a listener now. */
  protected listens<K extends keyof Events>(type: K): boolean {
    const list = this.listeners?.[type];
    return list !== undefined && list.length > 0;
  }

  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const list = this.listeners?.[type];
    if (!list) return;
    for (let i = 0; i < list.length; i++) {
      const l = list[i]!;
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
