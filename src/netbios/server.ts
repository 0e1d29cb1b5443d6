// The called side: accept TCP connections, read one SESSION REQUEST, answer it by the called name.
//
//   accept -> [keep-alives skipped] -> SESSION REQUEST(called, calling) -> decide:
//     accept   -> POSITIVE SESSION RESPONSE, then onSession(NetbiosSession)
//     refuse   -> NEGATIVE SESSION RESPONSE(errorCode), then close
//     retarget -> RETARGET SESSION RESPONSE(address, port), then close
//
// The decision: `answer(request)` when given; otherwise `retarget` entries first, then `names`
// (a listed called name is accepted, any other refused with 0x82 "called name not present"), and
// with neither, every called name is accepted (as Samba does).
//
// Malformed session requests (bad LENGTH, a name that does not decode, octets after the names) get
// NEGATIVE 0x82 and a close, the answer Samba's smbd gives them (docs/netbios.md). A first packet
// that is neither a request nor a keep-alive, or no request within requestTimeoutMs, ends the
// connection without an answer.

import { listenTcp, type SocketListener } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { ipv4Octets } from './codec.js';
import { PacketConnection } from './connection.js';
import { deadline } from './deadline.js';
import { NetbiosError, NetbiosProtocolError } from './errors.js';
import { parseNetbiosName, sameName, type NetbiosName } from './names.js';
import { NegativeResponseCode, NETBIOS_SESSION_PORT, type NetbiosPacket } from './packets.js';
import { NetbiosSession } from './session.js';

export interface NetbiosSessionRequest {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  readonly remoteAddress: string;
}

export type NetbiosDecision =
  | { readonly kind: 'accept' }
  | { readonly kind: 'refuse'; readonly errorCode: number }
  | { readonly kind: 'retarget'; readonly address: string; readonly port: number };

export interface NetbiosRetargetRule {
  /** Called name (text gets suffix 0x20 by default). */
  readonly called: NetbiosName | string;
  /** Dotted IPv4 address and port the caller is sent to. */
  readonly address: string;
  readonly port: number;
}

export interface NetbiosServerOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 139; 0 picks a free port (the server's `port` says which). */
  port?: number;
  /** Called names answered positively (text gets suffix 0x20 by default). Omitted: any name. */
  names?: ReadonlyArray<NetbiosName | string>;
  /** Called names answered with a RETARGET SESSION RESPONSE. */
  retarget?: readonly NetbiosRetargetRule[];
  /** Decides each request itself (names and retarget are then not consulted). */
  answer?: (request: NetbiosSessionRequest) => NetbiosDecision | Promise<NetbiosDecision>;
  /** Time a caller has to send its session request (and `answer` to decide), in ms. Default 10 000. */
  requestTimeoutMs?: number;
  /** Largest SESSION MESSAGE accepted (octets, 0..0x1FFFF). Default 0x1FFFF. */
  maxMessageSize?: number;
  /** Each established session. */
  onSession: (session: NetbiosSession) => void;
  /** A connection that ended before a session was established, and why (for logs). */
  onError?: (error: Error, remoteAddress: string) => void;
}

export interface NetbiosServer {
  readonly port: number;
  readonly address: string;
  /** Stops accepting and ends connections still waiting for their answer; sessions are left alone. */
  close(): Promise<void>;
}

function toName(value: NetbiosName | string): NetbiosName {
  return typeof value === 'string' ? parseNetbiosName(value, 0x20) : value;
}

/** The default decision: by called name, from `names` and `retarget`. */
export function decideByName(names: readonly NetbiosName[] | undefined, retarget: readonly NetbiosRetargetRule[]): (request: NetbiosSessionRequest) => NetbiosDecision {
  const rules = retarget.map((r) => {
    if (ipv4Octets(r.address) === undefined) throw new TypeError(`retarget address '${r.address}' is not a dotted IPv4 address`);
    return { called: toName(r.called), address: r.address, port: r.port };
  });
  return ({ called }) => {
    const rule = rules.find((r) => sameName(r.called, called));
    if (rule !== undefined) return { kind: 'retarget', address: rule.address, port: rule.port };
    if (names === undefined || names.some((n) => sameName(n, called))) return { kind: 'accept' };
    return { kind: 'refuse', errorCode: NegativeResponseCode.CALLED_NAME_NOT_PRESENT };
  };
}

/** Ends gracefully after a refusal or retarget; a peer that never closes its side is cut after `ms`. */
function closeSoon(conn: PacketConnection, ms: number): void {
  const timer = setTimeout(() => conn.destroy(), ms);
  timer.unref();
  void conn.close().then(() => clearTimeout(timer));
}

export async function listenNetbios(options: NetbiosServerOptions): Promise<NetbiosServer> {
  const decide = options.answer ?? decideByName(options.names?.map(toName), options.retarget ?? []);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const pending = new Set<PacketConnection>();
  let closing = false;

  const handle = async (transport: Transport): Promise<void> => {
    const conn = new PacketConnection(transport, { maxMessageSize: options.maxMessageSize });
    if (closing) {
      conn.destroy();
      return;
    }
    pending.add(conn);
    const wait = deadline(requestTimeoutMs, undefined, () => new NetbiosError('ERR_NETBIOS_TIMEOUT',
      `no session request from ${conn.remoteAddress} within ${requestTimeoutMs} ms`, 'remote', { timeoutMs: requestTimeoutMs }));
    let response: NetbiosPacket;
    let session: NetbiosSession | undefined;
    try {
      let packet: NetbiosPacket | undefined;
      // Bounded by the deadline: keep-alives cannot hold the connection past requestTimeoutMs.
      do packet = await conn.read(wait.signal);
      while (packet?.type === 'SESSION_KEEP_ALIVE');
      if (packet === undefined) return;
      if (packet.type !== 'SESSION_REQUEST') {
        throw new NetbiosError('ERR_NETBIOS_UNEXPECTED_PACKET', `${packet.type} before a session request`, 'remote', { packet: packet.type, state: 'awaiting-request' });
      }
      const request = { called: packet.called, calling: packet.calling, remoteAddress: conn.remoteAddress };
      const decision = await Promise.race([
        Promise.resolve(decide(request)),
        new Promise<never>((_, reject) => wait.signal.addEventListener('abort', () => reject(wait.signal.reason as Error), { once: true })),
      ]);
      if (decision.kind === 'accept') {
        response = { type: 'POSITIVE_SESSION_RESPONSE' };
        session = new NetbiosSession(conn, { called: packet.called, calling: packet.calling, retargets: [] });
      } else if (decision.kind === 'refuse') {
        response = { type: 'NEGATIVE_SESSION_RESPONSE', errorCode: decision.errorCode };
      } else {
        response = { type: 'RETARGET_SESSION_RESPONSE', address: decision.address, port: decision.port };
      }
    } catch (error) {
      const err = error as Error;
      if (err instanceof NetbiosProtocolError && err.packet === 'SESSION_REQUEST' && !conn.closed) {
        conn.write({ type: 'NEGATIVE_SESSION_RESPONSE', errorCode: NegativeResponseCode.CALLED_NAME_NOT_PRESENT });
        closeSoon(conn, requestTimeoutMs);
      } else {
        conn.destroy();
      }
      options.onError?.(err, conn.remoteAddress);
      return;
    } finally {
      wait.dispose();
      pending.delete(conn);
    }
    conn.write(response);
    if (session !== undefined) options.onSession(session);
    else closeSoon(conn, requestTimeoutMs);
  };

  const listener: SocketListener = await listenTcp(
    { host: options.host ?? '127.0.0.1', port: options.port ?? NETBIOS_SESSION_PORT },
    (transport) => void handle(transport),
  );
  return {
    port: listener.port,
    address: listener.address,
    async close() {
      closing = true;
      await listener.close();
      for (const conn of pending) conn.destroy();
      pending.clear();
    },
  };
}
