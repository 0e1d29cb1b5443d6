// The pcap writer: the global header and a record header written by hand from libpcap's format.

import { expect, it } from 'vitest';
import { LINKTYPE_ETHERNET, pcapFile } from '../../src/util/pcap.js';
import { hex, toHex } from '../support/bytes.js';

it('writes the classic header and one record per frame, microseconds kept', () => {
  const file = pcapFile([{ at: 1_000_000_001.5, data: hex('0102') }]);
  expect(toHex(file)).toBe(
    toHex(
      hex(
        // magic, version 2.4, thiszone, sigfigs, snaplen 65535, link type 1
        'd4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000' +
          // 1,000,000 s (0x000f4240), 1,500 µs (0x5dc), 2 captured, 2 original, the octets
          '40420f00 dc050000 02000000 02000000 0102',
      ),
    ),
  );
  expect(LINKTYPE_ETHERNET).toBe(1);
  expect(() => pcapFile([{ at: 0, data: new Uint8Array(65_536) }])).toThrow(RangeError);
});
