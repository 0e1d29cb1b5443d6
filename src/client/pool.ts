// ConnectionPool: sessions to the same server share transport connections.
//
// Each pooled connection is multiplexed (src/mux): a session gets a channel of its own, several
// sessions run over one connection at once, and when a session is released its channel closes
// while the connection stays open for `idleMs`, ready to carry the next session without a new
// TCP/TLS/WebSocket handshake. A connection that dies takes its channels with it; their
// sessions redial through the pool and resume on a fresh shared connection.

import { MuxConnection } from '../mux/mux-connection.js';
import type { Transport } from '../transport/transport.js';

export interface PoolOptions {
  /** Keep an unused connection this long. Default 30 s. */
  idleMs?: number;
  /** Channels per connection before another connection is opened. Default 256. */
  maxChannelsPerConnection?: number;
}

export class ConnectionPool {
  private readonly connections = new Map<string, MuxConnection[]>();
  private readonly dialing = new Map<string, Promise<MuxConnection>>();
  private readonly idleTimers = new Map<MuxConnection, ReturnType<typeof setTimeout>>();

  constructor(private readonly options: PoolOptions = {}) {}

  /** Open shared connections and the channels on them. */
  get stats(): { connections: number; channels: number } {
    let connections = 0;
    let channels = 0;
    for (const list of this.connections.values())
      for (const m of list) {
        connections++;
        channels += m.size;
      }
    return { connections, channels };
  }

  /** A channel to `key` (the session URL), on a pooled connection or a new one made with `dial`. */
  async channel(key: string, dial: () => Promise<Transport>): Promise<Transport> {
    const max = this.options.maxChannelsPerConnection ?? 256;
    let mux = this.withRoom(key, max);
    // Callers that wait on the same dial all land on the new connection: past `max` of them, the
    // rest go to the next one (a connection is never asked for more channels than it has).
    while (!mux) {
      const dialed = await this.connect(key, dial);
      if (dialed.isClosed) return dialed.open(); // throws ERR_CONNECT_FAILED: closed as it opened
      mux = dialed.size < max ? dialed : this.withRoom(key, max);
    }
    const timer = this.idleTimers.get(mux);
    if (timer) {
      clearTimeout(timer);
      this.idleTimers.delete(mux);
    }
    return mux.open();
  }

  /** A connection to `key` with a free channel: the newest first (older ones are usually full). */
  private withRoom(key: string, max: number): MuxConnection | undefined {
    const list = this.connections.get(key);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const m = list[i] as MuxConnection;
      if (!m.isClosed && m.size < max) return m;
    }
    return undefined;
  }

  private connect(key: string, dial: () => Promise<Transport>): Promise<MuxConnection> {
    const inFlight = this.dialing.get(key);
    if (inFlight) return inFlight;
    const p = dial().then((base) => {
      const mux = new MuxConnection(base, 'client', undefined, {
        maxChannels: this.options.maxChannelsPerConnection ?? 256,
      });
      const list = this.connections.get(key) ?? [];
      list.push(mux);
      this.connections.set(key, list);
      mux.onIdle = () => {
        const t = setTimeout(() => {
          this.idleTimers.delete(mux);
          mux.close();
        }, this.options.idleMs ?? 30_000);
        (t as { unref?: () => void }).unref?.();
        this.idleTimers.set(mux, t);
      };
      mux.onClose = () => {
        const rest = (this.connections.get(key) ?? []).filter((m) => m !== mux);
        if (rest.length) this.connections.set(key, rest);
        else this.connections.delete(key);
        const t = this.idleTimers.get(mux);
        if (t) {
          clearTimeout(t);
          this.idleTimers.delete(mux);
        }
      };
      return mux;
    });
    this.dialing.set(key, p);
    return p.finally(() => this.dialing.delete(key));
  }

  /** Closes every pooled connection (and so every session still using one). */
  close(): void {
    for (const list of this.connections.values()) for (const m of list) m.close();
  }
}
