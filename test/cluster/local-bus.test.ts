// LocalBus, the in-process Bus (src/cluster/bus.ts) that `colloquy serve` uses with the memory store.

import { describe, expect, it } from 'vitest';
import { LocalBus } from '../../src/cluster/bus.js';

describe('LocalBus', () => {
  it('delivers to subscribers of the topic only, after publish returns, until unsubscribed', async () => {
    const bus = new LocalBus();
    const got: string[] = [];
    const off = await bus.subscribe('a', (m) => got.push(new TextDecoder().decode(m)));
    await bus.subscribe('b', () => got.push('wrong topic'));
    const sent = bus.publish('a', new TextEncoder().encode('1'));
    expect(got).toEqual([]); // never inside publish
    await sent;
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['1']);
    await off();
    await bus.publish('a', new TextEncoder().encode('2'));
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['1']);
    await bus.close();
    await expect(bus.publish('a', new Uint8Array(0))).rejects.toThrow(/closed/);
  });
});
