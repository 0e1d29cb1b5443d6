// The whole receive path split at every point (TPKTs cut into 128-octet TPDUs, then TSDUs, then
// SPDUs), and SSDU segmenting: a peer that sets a TSDU Maximum Size gets DTs with Enclosure
// Items; a peer's segmented DTs arrive as one data unit.

import { describe, expect, it } from 'vitest';
import { connectIso } from '../../src/iso/runtime.js';
import { decodeTsdu, encodeSpdu, encodeTsdu } from '../../src/iso/spdu.js';
import type { Spdu } from '../../src/iso/spdu.js';
import { decodeTpdu, encodeDataTpkts } from '../../src/iso/tpkt-cotp.js';
import { decodeChunks, splitCases, type Codec } from '../support/codec-harness.js';
import { bytes, concat, isoReceivePath, isProtocolError, LIBIEC61850, si42Of, TSDU_TABLE } from './cases.js';
import { closedOf, listen, plain, RawPeer, rawServer } from './support.js';

const PLAIN = TSDU_TABLE.filter((t) => si42Of(t) === 'MAA');
const STREAM = concat(PLAIN.map((t) => encodeDataTpkts(encodeTsdu(t), 128)));

/** The receive path as the session reads it: TSDUs up to 64 KiB, SI 42 read as MAA. */
const RECEIVE_PATH: Codec<Spdu[]> = { decoder: () => isoReceivePath(1 << 16, undefined, false), isProtocolError };

function receive(chunks: readonly Uint8Array[]): Spdu[][] {
  return decodeChunks(RECEIVE_PATH, chunks);
}

describe('the receive path at every split point', () => {
  splitCases(RECEIVE_PATH, STREAM, PLAIN, { pairSteps: [53, 41] });
});

/** The TSDUs in a run of DT TPKTs. */
function tsdusOf(tpkts: Uint8Array[]): Spdu[][] {
  return receive(tpkts);
}

describe('SSDU segmenting (TSDU Maximum Size, Enclosure Item)', () => {
  it('sends DTs of at most the TSDU size the AC sets, with Enclosure Items 1, 0, 2', async () => {
    const mock = await rawServer();
    try {
      const connecting = connectIso(`iso://127.0.0.1:${mock.port}`, { units: [], modes: ['fullDuplex'] });
      const peer = await mock.peer;
      await peer.next();
      peer.write(LIBIEC61850.cc);
      await peer.next();
      const ac = encodeSpdu({
        type: 'AC',
        connectAccept: { protocolOptions: 0, tsduMaxSize: [64, 0], versions: 2 },
        requirements: 2,
      });
      peer.write(encodeDataTpkts(ac, 8192));
      const client = await connecting;
      const payload = Uint8Array.from({ length: 150 }, (_, i) => i);
      await client.send(payload);
      const got: Spdu[][] = [];
      while (got.length < 3) got.push(...tsdusOf([(await peer.next())!]));
      expect(got.map((t) => t.map((s) => s.type).join('+'))).toEqual(['GT+DT', 'GT+DT', 'GT+DT']);
      expect(got.map((t) => t[1]!.enclosure)).toEqual([1, 0, 2]);
      expect(concat(got.map((t) => t[1]!.userInfo!))).toEqual(payload);
      for (const t of got) expect(encodeTsdu(t).length).toBeLessThanOrEqual(64);
      // A short one is not segmented.
      await client.send(bytes(1, 2, 3));
      expect(tsdusOf([(await peer.next())!])).toEqual([[{ type: 'GT' }, { type: 'DT', userInfo: bytes(1, 2, 3) }]]);
      client.abort();
    } finally {
      mock.close();
    }
  });

  it("joins a peer's segmented DTs into one data unit; a broken sequence is a protocol error", async () => {
    const l = await listen({});
    try {
      const peer = await RawPeer.connect(l.listener.port);
      peer.write(LIBIEC61850.cr);
      await peer.next();
      peer.write(LIBIEC61850.cn);
      await peer.next();
      const server = await l.next();
      const dt = (enclosure: number | undefined, data: Uint8Array): Uint8Array =>
        encodeDataTpkts(encodeTsdu([{ type: 'GT' }, { type: 'DT', enclosure, userInfo: data }]), 8192);
      peer.write(concat([dt(1, bytes(1, 2)), dt(0, bytes(3)), dt(2, bytes(4, 5)), dt(3, bytes(6))]));
      expect(plain(await server.read())).toEqual({ done: false, value: '0102030405' });
      expect(plain(await server.read())).toEqual({ done: false, value: '06' });
      const closed = closedOf(server);
      peer.write(dt(2, bytes(7)));
      expect(plain((await closed).error)).toMatchObject({
        code: 'ERR_MALFORMED_FRAME',
        message: expect.stringContaining('without the beginning'),
      });
      const ab = await peer.next();
      const t = ab && decodeTpdu(ab.subarray(4));
      expect(t?.type === 'DT' && decodeTsdu(t.data)).toEqual([{ type: 'AB', transportDisconnect: 0x05 }]);
    } finally {
      await l.listener.close();
    }
  });
});
