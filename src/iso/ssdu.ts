// Segmenting of normal data (X.225 7.11, TSDU Maximum Size + Enclosure Item): an SSDU larger
// than the TSDU limit the peer set for our direction goes out as several GT+DT TSDUs, each DT
// carrying Enclosure Item bits (1 = beginning, 2 = end); a peer's segmented DTs are gathered
// back into one SSDU, bounded by the largest data unit this side accepts.
//
// Only DT is segmented. Other SPDUs that would exceed the limit are refused when sent
// (ERR_PAYLOAD_TOO_LARGE), and a received non-DT SPDU that is only part of its SSDU is a
// protocol error: this profile does not implement segmenting of their user data.

import { concatBytes, malformed, tooLarge } from './octets.js';
import { Enclosure } from './spdu-codes.js';
import { encodeTsdu } from './spdu.js';
import type { EncodeOptions, Spdu } from './spdu.js';

type Bytes = Uint8Array;

/** GT (2) + DT SI and LI (2) + Enclosure Item (3). */
const SEGMENT_OVERHEAD = 7;
/** Below this a TSDU limit leaves too little room to be usable. */
export const MIN_TSDU_LIMIT = SEGMENT_OVERHEAD + 9;

/** The TSDUs that carry `payload` under a TSDU limit (0 = none). */
export function dataTsdus(payload: Bytes, tsduLimit: number, o: EncodeOptions): Bytes[] {
  const whole = encodeTsdu([{ type: 'GT' }, { type: 'DT', userInfo: payload }], o);
  if (tsduLimit === 0 || whole.length <= tsduLimit) return [whole];
  const room = tsduLimit - SEGMENT_OVERHEAD;
  const out: Bytes[] = [];
  for (let from = 0; from < payload.length; from += room) {
    const to = Math.min(payload.length, from + room);
    const enclosure = (from === 0 ? Enclosure.begin : 0) | (to === payload.length ? Enclosure.end : 0);
    out.push(encodeTsdu([{ type: 'GT' }, { type: 'DT', enclosure, userInfo: payload.subarray(from, to) }], o));
  }
  return out;
}

export class SsduAssembler {
  private parts: Bytes[] | null = null;
  private size = 0;

  constructor(public maxSsduSize: number) {}

  get pending(): boolean {
    return this.parts !== null;
  }

  /** A received DT: the whole SSDU once its last segment is in, else undefined. Throws ProtocolError. */
  push(dt: Spdu): Bytes | undefined {
    const data = dt.userInfo ?? new Uint8Array(0);
    const bits = dt.enclosure;
    if (bits === undefined || bits === (Enclosure.begin | Enclosure.end)) {
      if (this.parts) malformed('SPDU', 'a whole DT while a segmented SSDU is incomplete');
      return data;
    }
    if (bits & ~(Enclosure.begin | Enclosure.end)) malformed('SPDU', `DT Enclosure Item 0x${bits.toString(16)}`);
    if (bits & Enclosure.begin) {
      if (this.parts) malformed('SPDU', 'a new SSDU begins before the last one ended');
      this.parts = [];
      this.size = 0;
    } else if (!this.parts) malformed('SPDU', 'a DT segment without the beginning of its SSDU');
    this.size += data.length;
    if (this.size > this.maxSsduSize)
      tooLarge('SPDU', `a segmented SSDU of more than ${this.maxSsduSize} octets`, { limit: this.maxSsduSize });
    this.parts!.push(data);
    if (!(bits & Enclosure.end)) return undefined;
    const ssdu = concatBytes(this.parts!);
    this.parts = null;
    return ssdu;
  }
}
