// Channels: several sessions over one transport connection.
//
// A multiplexed connection starts with the preface byte 0x0F (never the first byte of a native
// session, which opens with CONNECT 0x01 or RESUME 0x04), then carries mux records:
//
//   channel: varint | length: varint | bytes[length]        length 0 = the channel is closed
//
// Only the client opens channels, with increasing IDs that are never reused; the first record
// of a new ID opens it on the server. Each channel is a Transport, so a session neither knows
// nor cares that it shares the connection.
//
// Backpressure: a channel's write() reports the shared connection's state and every blocked
// channel gets `drain` with it. A paused channel holds what arrives for it; when the held bytes
// of all paused channels pass maxHeldBytes the whole connection pauses (head-of-line blocking
// is the price of sharing, and the bound is what keeps memory finite).

import { SessionError } from '../engine/errors.js';
import type { Transport, TransportHandlers } from '../transport/transport.js';
import { NO_HANDLERS } from '../transport/transport.js';
import type {} from '../driver/errors.js';

export const MUX_PREFACE = 0x0f;

export interface MuxOptions {
  /** Channels open at once. Default 1024. */
  maxChannels?: number;
  /** Largest record accepted. Default 16 MiB + 128 KiB (one coalesced write of maximal frames). */
  maxRecordBytes?: number;
  /** Bytes held for paused channels before the connection pauses. Default 4 MiB. */
  maxHeldBytes?: number;
}

function varint(n: number, out: number[]): void {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

class Channel implements Transport {
  readonly kind: Transport['kind'];
  readonly remoteAddress: string;
  closed = false;
  paused = false;
  blocked = false;
  held: Uint8Array[] = [];
  heldBytes = 0;
  handlers: TransportHandlers = NO_HANDLERS;

  constructor(
    private readonly mux: MuxConnection,
    readonly id: number,
    base: Transport,
  ) {
    this.kind = base.kind;
    this.remoteAddress = `${base.remoteAddress}#${id}`;
  }

  get tlsSessionReused(): boolean | undefined {
    return this.mux.base.tlsSessionReused;
  }
  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    const ok = this.mux.send(this.id, bytes);
    if (!ok) this.blocked = true;
    return ok;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    queueMicrotask(() => this.mux.release(this));
  }
  close(): void {
    this.mux.closeChannel(this, undefined, true);
  }
  destroy(error?: Error): void {
    this.mux.closeChannel(this, error, true);
  }
}

export class MuxConnection {
  private readonly channels = new Map<number, Channel>();
  private nextId = 1;
  private highestSeen = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private prefaceSeen: boolean;
  private heldTotal = 0;
  private basePaused = false;
  private ended = false;
  /** close() was called: the shared connection is going (its close may take a round trip). */
  private closing = false;
  /** Called when the last channel closes (a pool may keep or drop the connection then). */
  onIdle: () => void = () => {};
  /** Called once when the shared connection is gone. */
  onClose: (error?: Error) => void = () => {};

  constructor(
    readonly base: Transport,
    readonly role: 'client' | 'server',
    private readonly onChannel: (t: Transport) => void = () => {},
    private readonly options: MuxOptions = {},
  ) {
    this.prefaceSeen = role === 'client';
    base.setHandlers({
      data: (chunk) => this.receive(chunk),
      drain: () => {
        for (const c of this.channels.values())
          if (c.blocked) {
            c.blocked = false;
            c.handlers.drain();
          }
      },
      close: (error) => this.onBaseClose(error),
    });
    if (role === 'client') base.write(Uint8Array.of(MUX_PREFACE));
  }

  get size(): number {
    return this.channels.size;
  }
  /** Gone, or going: a connection being closed takes no new channel. */
  get isClosed(): boolean {
    return this.ended || this.closing;
  }

  /** Client: a new channel on this connection. */
  open(): Transport {
    if (this.isClosed) throw new SessionError('ERR_CONNECT_FAILED', 'the shared connection is closed');
    if (this.channels.size >= (this.options.maxChannels ?? 1024))
      throw new SessionError('ERR_CONNECT_FAILED', 'maxChannels reached on the shared connection', 'local', {
        limit: 'maxChannels',
      });
    const c = new Channel(this, this.nextId++, this.base);
    this.channels.set(c.id, c);
    return c;
  }

  close(): void {
    this.closing = true;
    this.base.close();
  }

  send(id: number, bytes: Uint8Array): boolean {
    const header: number[] = [];
    varint(id, header);
    varint(bytes.length, header);
    const record = new Uint8Array(header.length + bytes.length);
    record.set(header, 0);
    record.set(bytes, header.length);
    return this.base.write(record);
  }

  closeChannel(c: Channel, error: Error | undefined, local: boolean): void {
    if (c.closed) return;
    c.closed = true;
    this.channels.delete(c.id);
    this.heldTotal -= c.heldBytes;
    c.held = [];
    c.heldBytes = 0;
    if (local && !this.ended) this.send(c.id, new Uint8Array(0));
    const handlers = c.handlers;
    queueMicrotask(() => handlers.close(error));
    this.maybeResumeBase();
    if (this.channels.size === 0 && !this.ended) this.onIdle();
  }

  /** Delivers what a channel held while paused. */
  release(c: Channel): void {
    while (!c.paused && !c.closed && c.held.length > 0) {
      const chunk = c.held.shift() as Uint8Array;
      c.heldBytes -= chunk.length;
      this.heldTotal -= chunk.length;
      c.handlers.data(chunk);
    }
    this.maybeResumeBase();
  }

  private maybeResumeBase(): void {
    if (this.basePaused && this.heldTotal <= (this.options.maxHeldBytes ?? 4 * 1024 * 1024) / 2) {
      this.basePaused = false;
      this.base.resume();
    }
  }

  private fail(message: string): void {
    this.base.destroy(new SessionError('ERR_MALFORMED_FRAME', `mux: ${message}`, 'remote'));
  }

  /** Bytes from the shared connection (public so a server can hand over what it already read). */
  receive(chunk: Uint8Array): void {
    let b = this.buf.length ? concat(this.buf, chunk) : chunk;
    let at = 0;
    if (!this.prefaceSeen) {
      if (b[0] !== MUX_PREFACE) return this.fail('missing preface');
      this.prefaceSeen = true;
      at = 1;
    }
    const maxRecord = this.options.maxRecordBytes ?? 16 * 1024 * 1024 + 128 * 1024;
    for (;;) {
      const id = readVarint(b, at);
      if (id === null) break;
      if (id === undefined) return this.fail('bad channel varint');
      const len = readVarint(b, id.next);
      if (len === null) break;
      if (len === undefined || len.value > maxRecord) return this.fail('record too long');
      if (b.length - len.next < len.value) break;
      const body = b.subarray(len.next, len.next + len.value);
      at = len.next + len.value;
      this.route(id.value, body);
      if (this.ended) return;
    }
    b = b.subarray(at);
    this.buf = b.length ? b.slice() : new Uint8Array(0);
  }

  private route(id: number, body: Uint8Array): void {
    let c = this.channels.get(id);
    if (!c) {
      if (this.role === 'client' || id <= this.highestSeen) return; // late bytes of a closed channel
      if (body.length === 0) {
        this.highestSeen = id;
        return;
      }
      if (this.channels.size >= (this.options.maxChannels ?? 1024))
        return this.fail('maxChannels exceeded by the peer');
      this.highestSeen = id;
      c = new Channel(this, id, this.base);
      this.channels.set(id, c);
      this.onChannel(c);
    }
    if (body.length === 0) return this.closeChannel(c, undefined, false);
    if (c.paused || c.held.length > 0) {
      c.held.push(body);
      c.heldBytes += body.length;
      this.heldTotal += body.length;
      if (!this.basePaused && this.heldTotal > (this.options.maxHeldBytes ?? 4 * 1024 * 1024)) {
        this.basePaused = true;
        this.base.pause();
      }
      return;
    }
    c.handlers.data(body);
  }

  private onBaseClose(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    for (const c of [...this.channels.values()])
      this.closeChannel(c, error ?? new Error('shared connection closed'), false);
    this.onClose(error);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** null: need more bytes; undefined: malformed (longer than 8 bytes). */
function readVarint(b: Uint8Array, at: number): { value: number; next: number } | null | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (at + i >= b.length) return null;
    const byte = b[at + i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return { value, next: at + i + 1 };
    scale *= 128;
  }
  return undefined;
}
