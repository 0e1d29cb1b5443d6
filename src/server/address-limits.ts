// AddressLimits: what one client address may hold of a server at once: open connections,
// handshakes in progress, live sessions. The server-wide bounds (maxPendingHandshakes,
// maxSessions) keep the process alive; these keep one address from taking all of them.
//
// Rules
//   - The address is the host part of the transport's remote address ("10.0.0.7" of
//     "10.0.0.7:51234"); memory transports each count as their own address.
//   - A connection counts from accept until its transport is closed (whoever then holds it: the
//     server, a session's driver, a multiplexed connection): the transports of each address are
//     kept, and the closed ones dropped when that address connects again (at most the cap each)
//     and, for every address, every 1,024 accepts. Nothing wraps the transport, so whoever
//     instruments it (serve's byte counts) still sees its own object. Channels of a multiplexed
//     connection are not connections, but their handshakes and sessions count.
//   - A session counts against the address that opened it (CONNECT), until it closes, even
//     while it waits for a resume; a resume from elsewhere does not move it.
//   - 0 turns a limit off. Behind a proxy or load balancer every client has the proxy's
//     address: raise the limits there (or 0) and bound clients at the proxy.

import type { Transport } from '../transport/transport.js';

export interface AddressLimitOptions {
  /** Open connections from one address. Default 1,000. */
  maxConnectionsPerAddress?: number;
  /** Connections (or channels) from one address that have not sent their first frame yet. Default 100. */
  maxPendingHandshakesPerAddress?: number;
  /** Live sessions (connected or waiting for resume) opened from one address. Default 1,000. */
  maxSessionsPerAddress?: number;
}

type Kind = 'connections' | 'pending' | 'sessions';
const SWEEP_EVERY = 1024;

const OPTION: Record<Kind, keyof AddressLimitOptions> = {
  connections: 'maxConnectionsPerAddress',
  pending: 'maxPendingHandshakesPerAddress',
  sessions: 'maxSessionsPerAddress',
};
/** The per-address caps' defaults, by option. */
export const ADDRESS_LIMIT_DEFAULTS: Readonly<Record<keyof AddressLimitOptions, number>> = Object.freeze({
  maxConnectionsPerAddress: 1000,
  maxPendingHandshakesPerAddress: 100,
  maxSessionsPerAddress: 1000,
});
const DEFAULT: Record<Kind, number> = {
  connections: ADDRESS_LIMIT_DEFAULTS.maxConnectionsPerAddress,
  pending: ADDRESS_LIMIT_DEFAULTS.maxPendingHandshakesPerAddress,
  sessions: ADDRESS_LIMIT_DEFAULTS.maxSessionsPerAddress,
};

/**
 * "10.0.0.7:51234" -> "10.0.0.7"; "[::1]:4000" -> "::1"; "memory:3" stays (one pair, one address).
 * A channel of a multiplexed connection ("10.0.0.7:51234#12", src/mux) counts for its connection's
 * host, so channels do not slip past the per-address caps.
 */
export function hostOf(remoteAddress: string): string {
  const hash = remoteAddress.indexOf('#');
  if (hash >= 0) remoteAddress = remoteAddress.slice(0, hash);
  if (remoteAddress.startsWith('memory:')) return remoteAddress;
  const m = /^\[(.*)\]:\d+$/.exec(remoteAddress) ?? /^([^:]*):\d+$/.exec(remoteAddress);
  return m ? (m[1] as string) : remoteAddress;
}

export class AddressLimits {
  private readonly counts: Record<Kind, Map<string, number>> = {
    connections: new Map(),
    pending: new Map(),
    sessions: new Map(),
  };
  private readonly open = new Map<string, Set<Transport>>();
  private accepted = 0;

  constructor(private readonly options: AddressLimitOptions) {}

  /** Counts a new connection; the name of the option that forbids it, or null. */
  connection(transport: Transport): keyof AddressLimitOptions | null {
    if (++this.accepted % SWEEP_EVERY === 0) for (const [host, set] of this.open) prune(this.open, host, set);
    const limit = this.options.maxConnectionsPerAddress ?? DEFAULT.connections;
    if (limit <= 0) return null;
    const host = hostOf(transport.remoteAddress);
    let set = this.open.get(host);
    if (set && set.size >= limit) set = prune(this.open, host, set);
    if (set && set.size >= limit) return 'maxConnectionsPerAddress';
    if (!set) this.open.set(host, (set = new Set()));
    set.add(transport);
    return null;
  }

  /**
   * Takes one unit of `kind` for `address`: a release function, or the name of the option that
   * forbids it (the caller turns the transport away).
   */
  take(kind: Kind, address: string): (() => void) | keyof AddressLimitOptions {
    const limit = this.options[OPTION[kind]] ?? DEFAULT[kind];
    const host = hostOf(address);
    const map = this.counts[kind];
    const n = map.get(host) ?? 0;
    if (limit > 0 && n >= limit) return OPTION[kind];
    map.set(host, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (map.get(host) ?? 1) - 1;
      if (left <= 0) map.delete(host);
      else map.set(host, left);
    };
  }

  limit(kind: keyof AddressLimitOptions): number {
    const k = (Object.keys(OPTION) as Kind[]).find((x) => OPTION[x] === kind) as Kind;
    return this.options[kind] ?? DEFAULT[k];
  }
}

function prune(open: Map<string, Set<Transport>>, host: string, set: Set<Transport>): Set<Transport> | undefined {
  for (const t of set) if (t.closed) set.delete(t);
  if (set.size > 0) return set;
  open.delete(host);
  return undefined;
}
