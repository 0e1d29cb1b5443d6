// The Transport conformance suite: one set of cases, run unchanged for every transport by
// conformance.test.ts. A factory returns a connected pair with no handlers installed yet.
//
// "Did not happen" checks (pause, handlers not yet installed) wait on a causal barrier: bytes
// sent the other way after the data and seen arriving (roundTrip), never on a timer.

import { describe, expect, it } from 'vitest';
import type { Transport } from '../../src/transport/transport.js';
import { Probe, concat, digest, pump, randomBytes, rng, roundTrip, turn } from './support.js';

export interface TransportPair {
  client: Transport;
  server: Transport;
  cleanup(): Promise<void>;
}

export type PairFactory = () => Promise<TransportPair>;

const MiB = 1024 * 1024;

async function withPair(factory: PairFactory, run: (pair: TransportPair) => Promise<void>): Promise<void> {
  const pair = await factory();
  try {
    await run(pair);
  } finally {
    pair.client.destroy();
    pair.server.destroy();
    await pair.cleanup();
  }
}

export function transportConformance(name: string, factory: PairFactory): void {
  describe(`Transport conformance: ${name}`, { timeout: 30_000 }, () => {
    it('delivers several MB in order both ways, in random chunk sizes', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        const up = randomBytes(4 * MiB, 1);
        const down = randomBytes(3 * MiB + 12345, 2);
        const sizes = rng(3);
        await Promise.all([
          pump(c, up, () => 1 + (sizes() % 65536)),
          pump(s, down, () => 1 + (sizes() % 65536)),
          s.waitBytes(up.byteLength),
          c.waitBytes(down.byteLength),
        ]);
        expect(s.bytes).toBe(up.byteLength);
        expect(c.bytes).toBe(down.byteLength);
        expect(digest(s.received())).toBe(digest(up));
        expect(digest(c.received())).toBe(digest(down));
      }));

    it('write() returns false under a burst, then drain fires and everything arrives', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        const chunk = randomBytes(256 * 1024, 4);
        let written = 0;
        let accepted = true;
        for (let i = 0; i < 256 && accepted; i += 1) {
          accepted = client.write(chunk);
          written += chunk.byteLength;
        }
        expect(accepted).toBe(false);
        await c.nextDrain();
        expect(c.drains).toBeGreaterThanOrEqual(1);
        await s.waitBytes(written);
        expect(s.bytes).toBe(written);
        expect(digest(s.received().subarray(0, chunk.byteLength))).toBe(digest(chunk));
      }));

    it('pause() stops data and resume() restarts it with nothing lost', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        const first = randomBytes(64 * 1024, 5);
        const second = randomBytes(64 * 1024, 6);
        server.pause();
        client.write(first);
        await roundTrip(server, c);
        await roundTrip(server, c);
        expect(s.bytes).toBe(0);
        server.resume();
        client.write(second);
        await s.waitBytes(first.byteLength + second.byteLength);
        expect(digest(s.received())).toBe(digest(concat([first, second])));
      }));

    it('holds data that arrives before the first setHandlers()', () =>
      withPair(factory, async ({ client, server }) => {
        const c = new Probe(client);
        client.write(new TextEncoder().encode('early'));
        await roundTrip(server, c);
        await roundTrip(server, c);
        const s = new Probe(server);
        await s.waitBytes(5);
        expect(new TextDecoder().decode(s.received())).toBe('early');
      }));

    for (const side of ['client', 'server'] as const) {
      it(`close() from the ${side} delivers queued bytes, then both sides close cleanly`, () =>
        withPair(factory, async (pair) => {
          const [c, s] = [new Probe(pair.client), new Probe(pair.server)];
          const [closer, other] = side === 'client' ? [c, s] : [s, c];
          const data = randomBytes(MiB, 7);
          for (let offset = 0; offset < data.byteLength; offset += 64 * 1024)
            closer.transport.write(data.subarray(offset, offset + 64 * 1024));
          closer.transport.close();
          expect(closer.transport.closed).toBe(true);
          expect(closer.transport.write(new Uint8Array(1))).toBe(false);
          expect(closer.closes).toEqual([]);
          expect(await other.closed()).toBeUndefined();
          expect(other.bytesAtClose).toBe(data.byteLength);
          expect(digest(other.received())).toBe(digest(data));
          expect(await closer.closed()).toBeUndefined();
          expect(other.transport.closed).toBe(true);
        }));
    }

    it('destroy(error) closes both sides, the local one with that error, once', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        await roundTrip(server, c);
        const boom = new Error('boom');
        client.destroy(boom);
        expect(client.closed).toBe(true);
        expect(c.closes).toEqual([]); // never reported inside the call
        expect(await c.closed()).toBe(boom);
        await s.closed(); // with or without an error: that is the peer's view of a reset
        client.destroy(new Error('again'));
        client.close();
        server.destroy();
        await turn();
        await turn();
        expect(c.closes).toEqual([boom]);
        expect(s.closes).toHaveLength(1);
      }));

    it('destroy() without an error reports a clean local close', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        server.destroy();
        expect(await s.closed()).toBeUndefined();
        await c.closed();
        expect(s.closes).toHaveLength(1);
        expect(c.closes).toHaveLength(1);
      }));

    it('sets remoteAddress on both ends', () =>
      withPair(factory, async ({ client, server }) => {
        for (const t of [client, server]) {
          expect(typeof t.remoteAddress).toBe('string');
          expect(t.remoteAddress.length).toBeGreaterThan(0);
          expect(t.remoteAddress).not.toBe('unknown');
        }
      }));

    it('writing after close returns false and nothing throws', () =>
      withPair(factory, async ({ client, server }) => {
        const [c, s] = [new Probe(client), new Probe(server)];
        client.close();
        expect(client.write(new Uint8Array([1]))).toBe(false);
        await Promise.all([c.closed(), s.closed()]);
        for (const t of [client, server]) {
          expect(t.closed).toBe(true);
          expect(t.write(new Uint8Array([1]))).toBe(false);
          t.pause();
          t.resume();
          t.close();
          t.destroy(new Error('late'));
        }
        await turn();
        expect(c.closes).toEqual([undefined]);
        expect(s.closes).toEqual([undefined]);
      }));
  });
}
