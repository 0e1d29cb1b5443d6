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

import { ByteDriver } from '../driver/byte-driver.js';
import { listenTcp, type SocketListener } from '../transport/tcp.js';
import type { Transport } from '../transport/transport.js';
import { ipv4Octets } from './codec.js';
import { NetbiosMachine, type NetbiosDecision, type NetbiosEvent } from './machine.js';
import { parseNetbiosName, sameName, type NetbiosName } from './names.js';
import { NegativeResponseCode, NETBIOS_SESSION_PORT } from './packets.js';
import { NetbiosSession } from './session.js';

export type { NetbiosDecision } from './machine.js';

export interface NetbiosSessionRequest {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  readonly remoteAddress: string;
}

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
export function decideByName(
  names: readonly NetbiosName[] | undefined,
  retarget: readonly NetbiosRetargetRule[],
): (request: NetbiosSessionRequest) => NetbiosDecision {
  const rules = retarget.map((r) => {
    if (ipv4Octets(r.address) === undefined)
      throw new TypeError(`retarget address '${r.address}' is not a dotted IPv4 address`);
    return { called: toName(r.called), address: r.address, port: r.port };
  });
  return ({ called }) => {
    const rule = rules.find((r) => sameName(r.called, called));
    if (rule !== undefined) return { kind: 'retarget', address: rule.address, port: rule.port };
    if (names === undefined || names.some((n) => sameName(n, called))) return { kind: 'accept' };
    return { kind: 'refuse', errorCode: NegativeResponseCode.CALLED_NAME_NOT_PRESENT };
  };
}

export async function listenNetbios(options: NetbiosServerOptions): Promise<NetbiosServer> {
  const decide = options.answer ?? decideByName(options.names?.map(toName), options.retarget ?? []);
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  /** Connections whose request is not answered yet. */
  const pending = new Set<ByteDriver<NetbiosEvent>>();
  let closing = false;

  const handle = (transport: Transport): void => {
    if (closing) {
      transport.destroy();
      return;
    }
    const remoteAddress = transport.remoteAddress;
    const machine = new NetbiosMachine({
      role: 'called',
      requestTimeoutMs,
      ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
    });
    const driver = new ByteDriver<NetbiosEvent>(machine);
    pending.add(driver);
    driver.onEvent = (e) => {
      switch (e.type) {
        case 'request':
          // The machine's deadline bounds the decision too: a late answer is ignored.
          new Promise<NetbiosDecision>((resolve) =>
            resolve(decide({ called: e.called, calling: e.calling, remoteAddress })),
          ).then(
            (decision) => driver.input((now) => machine.answer(decision, now)),
            (error: unknown) =>
              driver.input(() => machine.abort(error instanceof Error ? error : new Error(String(error)))),
          );
          return;
        case 'established':
          pending.delete(driver);
          options.onSession(
            new NetbiosSession(driver, machine, {
              called: machine.request!.called,
              calling: machine.request!.calling,
              retargets: [],
            }),
          );
          return;
        case 'close':
          pending.delete(driver);
          return;
        case 'ended':
          pending.delete(driver);
          if (e.error) options.onError?.(e.error, remoteAddress);
          return;
        default:
          return;
      }
    };
    driver.attach(transport, (now) => machine.handleTransportUp(now, remoteAddress));
  };

  const listener: SocketListener = await listenTcp(
    { host: options.host ?? '127.0.0.1', port: options.port ?? NETBIOS_SESSION_PORT },
    (transport) => handle(transport),
  );
  return {
    port: listener.port,
    address: listener.address,
    async close() {
      closing = true;
      await listener.close();
      for (const driver of pending) driver.destroy();
      pending.clear();
    },
  };
}
