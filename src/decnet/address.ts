// DECnet Phase IV node addresses: a 16-bit word, area in bits 15..10 (1..63), node number in
// bits 9..0 (1..1023), written "area.node" (1.10). On Ethernet a Phase IV node takes the MAC
// address HIORD + the word, low octet first: 1.10 = 0x040a is AA-00-04-00-0A-04 (Routing
// v2.0.0 §4.3). Pure.

import { SessionError } from '../engine/errors.js';

/** HI-ORD, the first four octets of every Phase IV node's Ethernet address. */
export const HIORD = [0xaa, 0x00, 0x04, 0x00] as const;

export const MAX_AREA = 63;
export const MAX_NODE = 1023;

/** The address word of area.node. */
export function nodeAddress(area: number, node: number): number {
  if (!Number.isInteger(area) || area < 1 || area > MAX_AREA || !Number.isInteger(node) || node < 1 || node > MAX_NODE)
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `DECnet address ${area}.${node}: area is 1..63, node 1..1023`,
      'local',
      {
        area,
        node,
      },
    );
  return (area << 10) | node;
}

/** "1.10" to the address word. */
export function parseAddress(text: string): number {
  const m = /^(\d{1,2})\.(\d{1,4})$/.exec(text);
  if (m === null)
    throw new SessionError('ERR_INVALID_ARGUMENT', `DECnet address '${text}': expected area.node, e.g. 1.10`, 'local', {
      text,
    });
  return nodeAddress(Number(m[1]), Number(m[2]));
}

export function formatAddress(word: number): string {
  return `${word >> 10}.${word & 0x3ff}`;
}

/** The Ethernet address of a Phase IV node, as aa:00:04:00:xx:yy. */
export function nodeMac(word: number): string {
  return macToString(Uint8Array.of(...HIORD, word & 0xff, word >> 8));
}

export function macToString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** aa:00:04:00:0a:04 to six octets; throws on anything else. */
export function macFromString(text: string): Uint8Array {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/i.test(p)))
    throw new SessionError('ERR_INVALID_ARGUMENT', `Ethernet address '${text}': expected six hex octets`, 'local', {
      text,
    });
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}
