// Memory specifics: the latency and capacity knobs (on fake timers), backpressure through a
// paused reader, reset, close behind held data, and the name registry.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { connectMemory, listenMemory, memoryPair } from '../../src/transport/memory.js';
import { Probe } from './support.js';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

describe('memory: latency and capacity', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('delivers after latencyMs, in write order', async () => {
    const [a, b] = memoryPair({ latencyMs: 50 });
    const pb = new Probe(b);
    a.write(bytes(1, 1));
    await vi.advanceTimersByTimeAsync(20);
    a.write(bytes(2, 2));
    await vi.advanceTimersByTimeAsync(29);
    expect(pb.bytes).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect([...pb.received()]).toEqual([1]);
    await vi.advanceTimersByTimeAsync(19);
    expect(pb.bytes).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect([...pb.received()]).toEqual([1, 2, 2]);
  });

  it('latency 0 means the next macrotask, not the same one', async () => {
    const [a, b] = memoryPair();
    const pb = new Probe(b);
    a.write(bytes(3));
    await Promise.resolve();
    expect(pb.bytes).toBe(0);
    await vi.advanceTimersToNextTimerAsync();
    expect(pb.bytes).toBe(3);
  });

  it('write() returns false past capacityBytes; drain fires when the bytes are consumed', async () => {
    const [a, b] = memoryPair({ latencyMs: 10, capacityBytes: 1000 });
    const pa = new Probe(a);
    const pb = new Probe(b);
    expect(a.write(bytes(600))).toBe(true);
    expect(a.write(bytes(400))).toBe(true); // exactly at capacity is still fine
    expect(a.write(bytes(1))).toBe(false);
    await vi.advanceTimersByTimeAsync(9);
    expect(pa.drains).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(pb.bytes).toBe(1001);
    expect(pa.drains).toBe(1);
  });

  it('a paused reader holds delivered bytes, so its writer gets no drain until it resumes', async () => {
    const [a, b] = memoryPair({ capacityBytes: 1000 });
    const pa = new Probe(a);
    const pb = new Probe(b);
    b.pause();
    a.write(bytes(800));
    expect(a.write(bytes(800))).toBe(false);
    await vi.runAllTimersAsync();
    expect(pb.bytes).toBe(0);
    expect(pa.drains).toBe(0);
    expect(a.write(bytes(1))).toBe(false); // the window is still full
    b.resume();
    await pa.nextDrain();
    await vi.runAllTimersAsync();
    expect(pb.bytes).toBe(1601);
  });
  it('destroy() drops undelivered bytes and resets the peer, which drops what it held', async () => {
    const [a, b] = memoryPair({ latencyMs: 5 });
    const pa = new Probe(a);
    const pb = new Probe(b);
    b.pause();
    a.write(bytes(10));
    await vi.advanceTimersByTimeAsync(5); // delivered, held by the paused reader
    a.write(bytes(20)); // never delivered
    a.destroy();
    await vi.runAllTimersAsync();
    expect(pb.closes).toEqual([expect.objectContaining({ code: 'ERR_TRANSPORT_RESET', origin: 'remote' })]);
    expect(pb.bytes).toBe(0);
    expect(pa.closes).toEqual([undefined]);
  });
});

describe('memory: close', () => {
  it('a clean close waits behind data a paused reader holds', async () => {
    const [a, b] = memoryPair();
    const pa = new Probe(a);
    const pb = new Probe(b);
    b.pause();
    a.write(bytes(10));
    a.close();
    expect(await pa.closed()).toBeUndefined(); // b answered the end at once
    expect(pb.closes).toEqual([]);
    expect(b.closed).toBe(true);
    b.resume();
    expect(await pb.closed()).toBeUndefined();
    expect(pb.bytesAtClose).toBe(10);
  });

  it('delivers an early close to the first handlers installed', async () => {
    const [a, b] = memoryPair();
    a.write(bytes(4));
    a.close();
    const pa = new Probe(a);
    await pa.closed();
    const pb = new Probe(b);
    expect(await pb.closed()).toBeUndefined();
    expect(pb.bytesAtClose).toBe(4);
  });
});

describe('memory: registry', () => {
  it('connects by name, with or without the memory:// prefix', async () => {
    let accepted = 0;
    const listener = listenMemory('registry-a', (t) => {
      accepted += 1;
      expect(t.remoteAddress).toMatch(/^memory:\d+$/);
    });
    try {
      expect(listener.address).toBe('memory://registry-a');
      const one = await connectMemory('registry-a');
      const two = await connectMemory('memory://registry-a');
      expect(accepted).toBe(2);
      expect(one.remoteAddress).toBe('memory://registry-a');
      expect(two.kind).toBe('memory');
    } finally {
      await listener.close();
    }
  });

  it('refuses a taken name, an unknown name, and a closed listener', async () => {
    const listener = listenMemory('registry-b', () => {});
    expect(() => listenMemory('memory://registry-b', () => {})).toThrow(
      expect.objectContaining({ code: 'ERR_TRANSPORT_ADDRESS_IN_USE' }),
    );
    await listener.close();
    await expect(connectMemory('registry-b')).rejects.toMatchObject({ code: 'ERR_TRANSPORT_REFUSED' });
    await expect(connectMemory('never-listened')).rejects.toMatchObject({ code: 'ERR_TRANSPORT_REFUSED' });
  });

  it('rejects with the signal reason when already aborted', async () => {
    const listener = listenMemory('registry-c', () => {});
    const reason = new Error('stop');
    await expect(connectMemory('registry-c', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await listener.close();
  });
});
