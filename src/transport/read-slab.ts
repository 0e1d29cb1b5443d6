// ReadSlab: where a socket reads into (Node's `onread` option), so that consecutive reads land
// next to each other in one slab:
//
//   slab  [ read 1 | read 2 | read 3 |  region handed to the next read ........ ]
//
// A frame that spans reads then lies contiguous in memory and the frame decoder makes one view
// of it instead of joining the pieces into a fresh buffer (src/engine/codec/frame-decoder.ts), and
// a read takes whatever the kernel holds (up to the region), not 64 KiB at a time. Bytes handed
// out are never written again: each read goes after the last one, and a used-up slab is dropped
// (it lives on while views into it do).
//
// Sizing adapts, so a quiet socket holds little: a slab starts at 64 KiB (what libuv reads into by
// default); a read that fills its whole region doubles the next slab (up to 4 MiB), a small read
// halves it, and a slab much larger than the size now wanted is dropped for a new one.

const MIN_SLAB = 64 * 1024;
const MAX_SLAB = 4 * 1024 * 1024;

export class ReadSlab {
  // Made on the first read, not here: connectTcp makes a slab before net.connect(), and in the
  // browser bundle (where Buffer does not exist and node:net is a stub that explains itself) the
  // stub's error must be the one the caller sees.
  private slab: Buffer | undefined;
  private used = 0;
  private size = MIN_SLAB;

  /** The region the next read fills (Node calls it after each read). */
  readonly region = (): Buffer => {
    const slab = this.slab;
    if (slab === undefined || slab.length - this.used < this.size / 4 || slab.length > 4 * this.size) {
      this.slab = Buffer.allocUnsafeSlow(this.size);
      this.used = 0;
      return this.slab;
    }
    return slab.subarray(this.used);
  };

  /** `n` bytes were read into `region`: the view of them (consumed from the slab). */
  took(n: number, region: Buffer): Buffer {
    this.used += n;
    if (n === region.length) this.size = Math.min(this.size * 2, MAX_SLAB);
    else if (n < this.size / 16) this.size = Math.max(this.size / 2, MIN_SLAB);
    return region.subarray(0, n);
  }
}
