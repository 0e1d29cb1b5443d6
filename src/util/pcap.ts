// A pcap file (the classic libpcap format, microsecond timestamps) from captured frames, for
// `colloquy capture` and anyone who wants to open what an exchange put on the wire in Wireshark.
// Pure: it builds octets, the caller writes them.
//
//   global header (24): magic a1b2c3d4 (written little-endian), version 2.4, thiszone 0,
//                       sigfigs 0, snaplen, network (the link type: 1 Ethernet)
//   per frame (16 + n): seconds, microseconds, captured length, original length, the octets

export const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 65_535;

export interface CapturedFrame {
  /** When the frame was sent, in milliseconds since the Unix epoch (fractions kept to the µs). */
  readonly at: number;
  readonly data: Uint8Array;
}

export function pcapFile(frames: readonly CapturedFrame[], linkType = LINKTYPE_ETHERNET): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.data.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, SNAPLEN, true);
  view.setUint32(20, linkType, true);
  let at = 24;
  for (const f of frames) {
    if (f.data.length > SNAPLEN)
      throw new RangeError(`a frame of ${f.data.length} octets is past the snap length ${SNAPLEN}`);
    const us = Math.round(f.at * 1000);
    view.setUint32(at, Math.floor(us / 1_000_000), true);
    view.setUint32(at + 4, us % 1_000_000, true);
    view.setUint32(at + 8, f.data.length, true);
    view.setUint32(at + 12, f.data.length, true);
    out.set(f.data, at + 16);
    at += 16 + f.data.length;
  }
  return out;
}
