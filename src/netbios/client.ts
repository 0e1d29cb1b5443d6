// The calling side: connect, send a SESSION REQUEST, read the answer, follow retargets.
//
//   connect(host, port) -> SESSION REQUEST(called, calling)
//     POSITIVE  -> NetbiosSession
//     NEGATIVE  -> NetbiosError ERR_NETBIOS_REFUSED (details.errorCode, details.reason)
//     RETARGET  -> close, connect to the address and port it names, same request again;
//                  at most maxRetargets hops (ERR_NETBIOS_TOO_MANY_RETARGETS past that)
//   keep-alives before the answer are skipped; anything else is ERR_NETBIOS_UNEXPECTED_PACKET.

import { ByteDriver } from '../driver/byte-driver.js';
import { connectTcp } from '../transport/tcp.js';
import { NetbiosMachine, type NetbiosEvent } from './machine.js';
import { parseNetbiosName, type NetbiosName } from './names.js';
import { NETBIOS_SESSION_PORT } from './packets.js';
import { NetbiosSession } from './session.js';

export interface NetbiosConnectOptions {
  host: string;
  /** Default 139. */
  port?: number;
  /** The name called: a NetbiosName, or text as parseNetbiosName reads it (suffix 0x20 by default). */
  called: NetbiosName | string;
  /** The caller's own name; text gets suffix 0x00 by default. Default `COLLOQUY<00>`. */
  calling?: NetbiosName | string;
  /** Retarget responses followed before giving up. Default 4. */
  maxRetargets?: number;
  /** Time allowed for each answer to a session request (per hop), in ms. Default 10 000. */
  timeoutMs?: number;
  /** Largest SESSION MESSAGE accepted (octets, 0..0x1FFFF). Default 0x1FFFF. */
  maxMessageSize?: number;
  signal?: AbortSignal;
}

function toName(value: NetbiosName | string, suffix: number): NetbiosName {
  return typeof value === 'string' ? parseNetbiosName(value, suffix) : value;
}

/** The calling side: one NetbiosMachine across every hop, run by one ByteDriver per connection attempt. */
export async function connectNetbios(options: NetbiosConnectOptions): Promise<NetbiosSession> {
  const called = toName(options.called, 0x20);
  const calling = toName(options.calling ?? 'COLLOQUY', 0x00);
  const machine = new NetbiosMachine({
    role: 'calling',
    called,
    calling,
    maxRetargets: options.maxRetargets ?? 4,
    timeoutMs: options.timeoutMs ?? 10_000,
    ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
  });
  const driver = new ByteDriver<NetbiosEvent>(machine);
  let host = options.host;
  let port = options.port ?? NETBIOS_SESSION_PORT;
  // Bounded: each pass either returns, throws, or follows a retarget, and the machine caps those.
  for (;;) {
    options.signal?.throwIfAborted();
    const transport = await connectTcp({ host, port, signal: options.signal });
    const next = await new Promise<NetbiosSession | { address: string; port: number }>((resolve, reject) => {
      const signal = options.signal;
      const onAbort = (): void => {
        driver.destroy();
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (): void => signal?.removeEventListener('abort', onAbort);
      driver.onEvent = (e) => {
        if (e.type === 'established') {
          settle();
          resolve(new NetbiosSession(driver, machine, { called, calling, retargets: machine.hops }));
        } else if (e.type === 'retarget') {
          settle();
          resolve({ address: e.address, port: e.port });
        } else if (e.type === 'ended') {
          settle();
          reject(e.error ?? new Error('the NetBIOS connection ended'));
        }
      };
      driver.attach(transport, (now) => machine.handleTransportUp(now, transport.remoteAddress));
    });
    if (next instanceof NetbiosSession) return next;
    host = next.address;
    port = next.port;
  }
}
