// WireSession: a SessionMachine speaking the native wire format over a byte stream.
//
// The machine works in frames; this couples it to the native codec so a runtime only moves
// bytes: `handleBytes()` in, `pollBytes(now)` out. Decoder errors become an orderly abort (the
// machine sends ABORT with frame-too-large or protocol-error). The decoder's limit starts at
// this side's own max frame size and drops to the negotiated one once the session is set up,
// so a peer can never make it buffer more than that. The ISO 8327 profile supplies its own
// coupler around the same machine.

import { encodeFrames, FrameDecoder } from './codec/index.js';
import { encodeData } from './codec/encode.js';
import { ProtocolError } from './errors.js';
import type { Frame } from './frames.js';
import type { SessionMachine } from './machine/index.js';
import type { DataSink } from './machine/session-machine.js';

/** Frames are gathered into one write until it reaches this many bytes. */
export const DEFAULT_WRITE_BATCH = 64 * 1024;

export interface WireSessionOptions {
  /**
   * Fresh bytes for a frame body that spans received chunks (default: a zero-filled
   * Uint8Array). A runtime may hand out memory that is not zeroed first: every byte is written.
   */
  allocate?: (length: number) => Uint8Array;
}

/**
 * The frames of one pollBytes() call, shared by every WireSession: a call fills it, encodes and
 * empties it before returning, and nothing in between calls back into pollBytes (taps must not).
 * One array per session would be 32 bytes of every idle session (issue 14).
 */
const batch: Frame[] = [];

/**
 * payloadApartFrom's default: larger than any frame (16 MiB at most), so no payload goes apart. A
 * small integer, not Infinity: Infinity in a field is a boxed number in every session (issue 14).
 */
export const NEVER_APART = 0x7fffffff;

export class WireSession {
  private decoder: FrameDecoder;
  private limitSet = false;
  /**
   * Sees every frame this coupler decodes ('in', before the machine handles it) and every frame
   * it encodes ('out'), for tracing and live views (`colloquy trace`). It must not throw or call
   * back into the machine. Unset by default: no cost.
   */
  tap: ((direction: 'in' | 'out', frame: Frame) => void) | undefined = undefined;
  /** Frames decoded and encoded so far (for metrics: two increments, no allocation). */
  framesIn = 0;
  framesOut = 0;
  /**
   * DATA payloads of at least this many bytes are not copied into the coalesced write: the
   * write ends with the frame's header and the next pollBytes() returns the payload itself.
   * NEVER_APART (the default) keeps every write whole; a runtime whose transport gathers
   * consecutive writes into one system call (TCP's cork) lowers it.
   */
  payloadApartFrom = NEVER_APART;
  /**
   * @internal Where a received DATA payload goes when nothing waits before it (the runtime's
   * reader; see SessionMachine.handleData): null, the default, makes every payload a `data` event.
   */
  dataSink: DataSink | null = null;
  /** A payload whose header went out in the last write, to be written next. */
  private apart: Uint8Array | null = null;
  private readonly allocate: ((length: number) => Uint8Array) | undefined;

  constructor(
    readonly machine: SessionMachine,
    options: WireSessionOptions = {},
  ) {
    this.allocate = options.allocate;
    this.decoder = this.newDecoder(machine.maxFrameSize);
  }

  private newDecoder(maxFrameSize: number): FrameDecoder {
    return new FrameDecoder(this.allocate ? { maxFrameSize, allocate: this.allocate } : { maxFrameSize });
  }

  /** Whether the next pollBytes() returns a payload whose header was just handed out. */
  get payloadPending(): boolean {
    return this.apart !== null;
  }

  handleTransportUp(now: number): void {
    this.apart = null;
    this.decoder = this.newDecoder(this.machine.negotiated?.maxFrameSize ?? this.machine.maxFrameSize);
    this.machine.handleTransportUp(now);
  }

  handleTransportDown(now: number, error?: Parameters<SessionMachine['handleTransportDown']>[1]): void {
    this.apart = null;
    this.machine.handleTransportDown(now, error);
  }

  /** Feeds bytes from the transport. Never throws. */
  handleBytes(chunk: Uint8Array, now: number): void {
    const m = this.machine;
    if (m.state === 'closed' && !m.isAttached) return;
    m.handleProgress(now);
    this.tightenLimit();
    this.decoder.push(chunk);
    for (;;) {
      let frame: Frame | Uint8Array | undefined;
      try {
        // A DATA frame comes as its bare payload, unless a tap wants to see frames.
        frame = this.tap === undefined ? this.decoder.nextBare() : this.decoder.next();
      } catch (e) {
        const error = e instanceof ProtocolError ? e : new ProtocolError('ERR_MALFORMED_FRAME', String(e));
        m.handleProtocolError(error, now);
        return;
      }
      if (!frame) return;
      this.framesIn++;
      if (frame instanceof Uint8Array) m.handleData(frame, now, this.dataSink);
      else {
        this.tap?.('in', frame);
        m.handleFrame(frame, now);
      }
      this.tightenLimit();
    }
  }

  /**
   * @internal A send written at once when nothing waits before it (SessionMachine.sendDataNow):
   * the DATA frame's bytes, to be written before anything else, or undefined when the data was
   * queued instead (pollBytes yields it). A payload that would go apart from its header, or one
   * sent while a payload apart is pending, is always queued. Throws as sendData.
   */
  sendDataNow(payload: Uint8Array, now: number): Uint8Array | undefined {
    const m = this.machine;
    // A subclass that encodes its own way (the ISO 8327 profile) writes only through pollBytes.
    if (this.apart !== null || payload.length >= this.payloadApartFrom || this.pollBytes !== nativePollBytes) {
      m.sendData(payload);
      return undefined;
    }
    const f = m.sendDataNow(payload, now);
    if (f === undefined) return undefined;
    this.framesOut++;
    this.tap?.('out', f);
    return encodeData(payload);
  }

  private tightenLimit(): void {
    if (this.limitSet) return;
    const agreed = this.machine.negotiated;
    if (!agreed) return;
    this.decoder.maxFrameSize = agreed.maxFrameSize;
    this.limitSet = true;
  }

  /**
   * The next bytes to write at `now`, several frames coalesced up to about `maxBytes`; undefined
   * when idle.
   */
  pollBytes(now: number, maxBytes = DEFAULT_WRITE_BATCH): Uint8Array | undefined {
    const pending = this.apart;
    if (pending !== null) {
      this.apart = null;
      return pending;
    }
    if (batch.length !== 0) batch.length = 0; // a throw in an earlier call (a tap, the encoder) may have left frames
    let size = 0;
    for (let f = this.machine.pollFrame(now); f; f = size < maxBytes ? this.machine.pollFrame(now) : undefined) {
      batch.push(f);
      this.framesOut++;
      this.tap?.('out', f);
      if (f.type === 'DATA' && f.payload.length >= this.payloadApartFrom) {
        this.apart = f.payload;
        break;
      }
      size += f.type === 'DATA' ? f.payload.length + 3 : 32;
    }
    if (batch.length === 0) return undefined;
    const out = encodeFrames(batch, this.apart !== null);
    batch.length = 0;
    return out;
  }
}

const nativePollBytes = WireSession.prototype.pollBytes;
