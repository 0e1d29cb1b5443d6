// The calling side: connect, send a SESSION REQUEST, read the answer, follow retargets.
//
//   connect(host, port) -> SESSION REQUEST(called, calling)
//     POSITIVE  -> NetbiosSession
//     NEGATIVE  -> NetbiosError ERR_NETBIOS_REFUSED (details.errorCode, details.reason)
//     RETARGET  -> close, connect to the address and port it names, same request again;
//                  at most maxRetargets hops (ERR_NETBIOS_TOO_MANY_RETARGETS past that)
//   keep-alives before the answer are skipped; anything else is ERR_NETBIOS_UNEXPECTED_PACKET.

import { connectTcp } from '../transport/tcp.js';
import { PacketConnection } from './connection.js';
import { deadline } from './deadline.js';
import { NetbiosError } from './errors.js';
import { formatNetbiosName, parseNetbiosName, type NetbiosName } from './names.js';
import { NETBIOS_SESSION_PORT, negativeReason, type NetbiosPacket } from './packets.js';
import { NetbiosSession, type RetargetHop } from './session.js';

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

/** Reads packets until the answer to a session request (keep-alives skipped). */
async function readAnswer(conn: PacketConnection, signal: AbortSignal): Promise<NetbiosPacket> {
  for (;;) {
    const packet = await conn.read(signal);
    if (packet === undefined) throw new NetbiosError('ERR_NETBIOS_CLOSED', `${conn.remoteAddress} closed the connection without answering the session request`, 'remote');
    if (packet.type !== 'SESSION_KEEP_ALIVE') return packet;
  }
}

export async function connectNetbios(options: NetbiosConnectOptions): Promise<NetbiosSession> {
  const called = toName(options.called, 0x20);
  const calling = toName(options.calling ?? 'COLLOQUY', 0x00);
  const maxRetargets = options.maxRetargets ?? 4;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const hops: RetargetHop[] = [];
  let host = options.host;
  let port = options.port ?? NETBIOS_SESSION_PORT;
  // Bounded: each pass either returns, throws, or adds a hop, and hops are capped.
  for (;;) {
    options.signal?.throwIfAborted();
    const transport = await connectTcp({ host, port, signal: options.signal });
    const conn = new PacketConnection(transport, { maxMessageSize: options.maxMessageSize });
    const wait = deadline(timeoutMs, options.signal, () => new NetbiosError('ERR_NETBIOS_TIMEOUT',
      `no answer to the session request from ${conn.remoteAddress} within ${timeoutMs} ms`, 'remote', { timeoutMs }));
    let answer: NetbiosPacket;
    try {
      conn.write({ type: 'SESSION_REQUEST', called, calling });
      answer = await readAnswer(conn, wait.signal);
    } catch (error) {
      conn.destroy();
      throw error;
    } finally {
      wait.dispose();
    }
    switch (answer.type) {
      case 'POSITIVE_SESSION_RESPONSE':
        return new NetbiosSession(conn, { called, calling, retargets: hops });
      case 'NEGATIVE_SESSION_RESPONSE': {
        conn.destroy();
        const reason = negativeReason(answer.errorCode);
        throw new NetbiosError('ERR_NETBIOS_REFUSED',
          `${conn.remoteAddress} refused ${formatNetbiosName(called)}: 0x${answer.errorCode.toString(16)} ${reason}`,
          'remote', { errorCode: answer.errorCode, reason, hops, remote: conn.remoteAddress });
      }
      case 'RETARGET_SESSION_RESPONSE':
        conn.destroy();
        hops.push({ address: answer.address, port: answer.port });
        if (hops.length > maxRetargets) {
          throw new NetbiosError('ERR_NETBIOS_TOO_MANY_RETARGETS', `more than ${maxRetargets} retarget responses`, 'remote', { hops, maxRetargets });
        }
        host = answer.address;
        port = answer.port;
        continue;
      default:
        conn.destroy();
        throw new NetbiosError('ERR_NETBIOS_UNEXPECTED_PACKET', `${answer.type} in answer to a session request`, 'remote', { packet: answer.type, state: 'requesting' });
    }
  }
}
