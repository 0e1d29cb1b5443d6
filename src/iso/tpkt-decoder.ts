// TpktDecoder and TsduAssembler: the receiving side of ./tpkt-cotp.ts, over a byte stream.
//
//   push(chunk) -> [chunks ...] -> next(): one whole TPKT -> decodeTpdu -> TPDU
//   DT TPDUs -> TsduAssembler.push -> a TSDU once a DT with EOT arrives
//
// Rules: at most one TPKT (65535 octets) plus the chunks not yet drained is held; a TSDU is
// bounded by maxTsduSize (ERR_FRAME_TOO_LARGE as soon as it is crossed); the decoder throws only
// ProtocolError and stays failed after one.

import { EMPTY } from '../engine/frames.js';
import type { ProtocolError } from '../engine/errors.js';
import { concatBytes, malformed, tooLarge } from './octets.js';
import { decodeTpdu, MIN_TPKT_LENGTH, TPKT_HEADER_LENGTH, TPKT_VERSION } from './tpkt-cotp.js';
import type { DataTpdu, Tpdu } from './tpkt-cotp.js';

type Bytes = Uint8Array;

/**
 * TPKTs from a byte stream in chunks of any size, decoded to TPDUs. push() a chunk, then call
 * next() until it returns undefined. A TPKT lying in one chunk is decoded in place (DT data is a
 * view into the chunk: do not reuse a chunk after pushing it); a TPKT split across chunks is
 * gathered into one buffer of its exact length. At most one TPKT (65535 octets) plus the
 * chunks not yet drained is held.
 */
export class TpktDecoder {
  private chunks: Bytes[] = [];
  private head = 0;
  private pos = 0;
  private buffered = 0;
  private failure: ProtocolError | null = null;
  private last: Bytes | undefined;

  get bufferedBytes(): number {
    return this.buffered;
  }
  /** The payload of the last TPKT taken (for the "invalid TPDU" parameter of an ER). */
  get lastPayload(): Bytes | undefined {
    return this.last;
  }

  push(chunk: Bytes): void {
    if (chunk.length === 0 || this.failure) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next TPDU, or undefined until more bytes arrive. Throws ProtocolError, then stays failed. */
  next(): Tpdu | undefined {
    if (this.failure) throw this.failure;
    try {
      const tpkt = this.take();
      this.last = tpkt;
      return tpkt ? decodeTpdu(tpkt) : undefined;
    } catch (error) {
      this.failure = error as ProtocolError;
      this.chunks = [];
      this.buffered = 0;
      throw error;
    }
  }

  private byteAt(offset: number): number {
    let i = this.head;
    let at = this.pos + offset;
    while (at >= this.chunks[i]!.length) at -= this.chunks[i++]!.length;
    return this.chunks[i]![at]!;
  }

  /** The payload of the next whole TPKT, or undefined. */
  private take(): Bytes | undefined {
    if (this.buffered < TPKT_HEADER_LENGTH) return undefined;
    const version = this.byteAt(0);
    if (version !== TPKT_VERSION) malformed('TPKT', `version ${version}, expected ${TPKT_VERSION}`);
    const length = (this.byteAt(2) << 8) | this.byteAt(3);
    if (length < MIN_TPKT_LENGTH) malformed('TPKT', `length ${length} < ${MIN_TPKT_LENGTH}`);
    if (this.buffered < length) return undefined;
    const first = this.chunks[this.head]!;
    let payload: Bytes;
    if (first.length - this.pos >= length) {
      payload = first.subarray(this.pos + TPKT_HEADER_LENGTH, this.pos + length);
      this.pos += length;
    } else {
      const whole = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const c = this.chunks[this.head]!;
        const n = Math.min(length - filled, c.length - this.pos);
        whole.set(c.subarray(this.pos, this.pos + n), filled);
        filled += n;
        this.pos += n;
        if (this.pos === c.length) this.drop();
      }
      payload = whole.subarray(TPKT_HEADER_LENGTH);
    }
    if (this.head < this.chunks.length && this.pos === this.chunks[this.head]!.length) this.drop();
    this.buffered -= length;
    return payload;
  }

  private drop(): void {
    this.chunks[this.head++] = EMPTY;
    this.pos = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    }
  }
}

/**
 * DT TPDUs to TSDUs: data is gathered until a DT with EOT. A TSDU of one DT is returned as that
 * DT's view; longer ones are copied once at the end. Past maxTsduSize: ERR_FRAME_TOO_LARGE.
 */
export class TsduAssembler {
  private parts: Bytes[] = [];
  private size = 0;

  constructor(public maxTsduSize: number) {}

  get bufferedBytes(): number {
    return this.size;
  }

  push(dt: DataTpdu): Bytes | undefined {
    this.size += dt.data.length;
    if (this.size > this.maxTsduSize)
      tooLarge('COTP', `a TSDU of more than ${this.maxTsduSize} octets`, { limit: this.maxTsduSize });
    if (!dt.eot) {
      if (dt.data.length > 0) this.parts.push(dt.data);
      return undefined;
    }
    const tsdu = this.parts.length === 0 ? dt.data : concatBytes([...this.parts, dt.data]);
    this.parts = [];
    this.size = 0;
    return tsdu;
  }
}
