// ReadSlab (src/transport/read-slab.ts): consecutive reads land side by side, bytes handed out are
// never handed out again, slabs grow while reads fill them and shrink when reads are small.

import { describe, expect, it } from 'vitest';
import { ReadSlab } from '../../src/transport/read-slab.js';

/** Simulates one read of `n` bytes (at most the region) filled with `fill`. */
function read(slab: ReadSlab, n: number, fill: number): Buffer {
  const region = slab.region();
  const got = Math.min(n, region.length);
  region.fill(fill, 0, got);
  return slab.took(got, region);
}

describe('ReadSlab', () => {
  it('puts consecutive reads next to each other in one buffer', () => {
    const slab = new ReadSlab();
    const a = read(slab, 1000, 1);
    const b = read(slab, 2000, 2);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + a.length);
  });

  it('never writes over bytes it handed out', () => {
    const slab = new ReadSlab();
    const views: Buffer[] = [];
    for (let i = 0; i < 400; i++) views.push(read(slab, [10, 70_000, 5000, 1 << 20][i % 4]!, i % 256));
    views.forEach((v, i) => expect(v.every((x) => x === i % 256)).toBe(true));
  });

  it('grows while reads fill their region, and shrinks back when they are small', () => {
    const slab = new ReadSlab();
    for (let i = 0; i < 20; i++) read(slab, 64 << 20, 7);
    expect(slab.region().length).toBeGreaterThan(1 << 20);
    for (let i = 0; i < 20; i++) read(slab, 100, 7);
    expect(slab.region().length).toBeLessThanOrEqual(64 * 1024);
  });
});
