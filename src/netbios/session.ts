// NetbiosSession: an established NetBIOS session (after a POSITIVE SESSION RESPONSE), the same on
// the calling and the called side. Session messages out through send(), in through async
// iteration; keep-alives are answered by nothing (RFC 1002: they are only there to be ignored) and
// skipped.
//
// Rules:
//   - Iterate once. Iteration ends when the peer closes cleanly, and throws the error that ended
//     the connection otherwise. A packet other than SESSION MESSAGE or SESSION KEEP ALIVE (a
//     second SESSION REQUEST, a stray response) destroys the session with
//     ERR_NETBIOS_UNEXPECTED_PACKET, as Samba drops such a connection.
//   - send() resolves once the transport took the message without asking to wait, or after its
//     drain; it rejects ERR_PAYLOAD_TOO_LARGE past 0x1FFFF octets (split it yourself: NetBIOS
//     messages are records, not a byte stream).
//   - close() ends gracefully (FIN after queued octets) and settles when the connection is over.

import { SessionError } from '../engine/errors.js';
import type { PacketConnection } from './connection.js';
import { NetbiosError } from './errors.js';
import type { NetbiosName } from './names.js';

export interface RetargetHop {
  readonly address: string;
  readonly port: number;
}

export interface NetbiosSessionInfo {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  /** Client side: the retarget responses followed before the positive one, in order. */
  readonly retargets: readonly RetargetHop[];
}

export class NetbiosSession implements AsyncIterable<Uint8Array> {
  readonly called: NetbiosName;
  readonly calling: NetbiosName;
  readonly retargets: readonly RetargetHop[];
  readonly remoteAddress: string;
  readonly #conn: PacketConnection;
  #iterating = false;

  constructor(conn: PacketConnection, info: NetbiosSessionInfo) {
    this.#conn = conn;
    this.called = info.called;
    this.calling = info.calling;
    this.retargets = info.retargets;
    this.remoteAddress = conn.remoteAddress;
  }

  get closed(): boolean {
    return this.#conn.closed;
  }

  async send(data: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted();
    if (this.#conn.transport.closed) throw new SessionError('ERR_INVALID_STATE', 'the NetBIOS session is closed', 'local', { state: 'closed' });
    if (!this.#conn.write({ type: 'SESSION_MESSAGE', data })) await this.#conn.waitDrain(options.signal);
  }

  keepAlive(): void {
    this.#conn.write({ type: 'SESSION_KEEP_ALIVE' });
  }

  async *messages(options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    if (this.#iterating) throw new SessionError('ERR_INVALID_STATE', 'a NetBIOS session is iterated once', 'local', { state: 'iterating' });
    this.#iterating = true;
    for (;;) {
      const packet = await this.#conn.read(options.signal);
      if (packet === undefined) return;
      if (packet.type === 'SESSION_KEEP_ALIVE') continue;
      if (packet.type === 'SESSION_MESSAGE') {
        yield packet.data;
        continue;
      }
      const error = new NetbiosError('ERR_NETBIOS_UNEXPECTED_PACKET', `${packet.type} on an established NetBIOS session`, 'remote', { packet: packet.type, state: 'established' });
      this.#conn.destroy(error);
      throw error;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return this.messages();
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  destroy(error?: Error): void {
    this.#conn.destroy(error);
  }

  /** Settles when the connection is over, whoever ended it. */
  whenClosed(): Promise<void> {
    return this.#conn.whenClosed();
  }
}
