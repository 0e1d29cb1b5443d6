// AcceptInfo: what a Colloquy server tells its client about the session it accepts, carried in
// the ACCEPT frame's user data (docs/protocol.md, "ACCEPT user data from a Colloquy server").
//
// Today one thing: whether the session is durable, i.e. kept in a store other nodes can read,
// so that it can go on when the node holding it dies. A client that knows its session is not
// durable can say plainly, when the node is gone, that nothing could continue it, instead of a
// bare resume refusal.
//
// Wire compatibility: the frame layout does not change. The Server sends no other ACCEPT user
// data; an older client ignores it, and a newer client reading an ACCEPT without it (an older
// server, or a peer that uses the user data for something else) learns nothing (undefined).
//
//   +---------+---------+---------+---------+---------+---------+
//   |  0x43   |  0x4c   |  0x53   |  0x49   | version |  flags  |     "CLSI", version 1
//   +---------+---------+---------+---------+---------+---------+
//   flags bit 0: durable. Other bits are reserved (0); bytes after the flags are ignored.

const MAGIC = [0x43, 0x4c, 0x53, 0x49] as const; // "CLSI": Colloquy session info
const VERSION = 1;
const DURABLE = 0x01;

export interface AcceptInfo {
  /** The session is kept in a store other nodes read: it can go on when its node dies. */
  durable: boolean;
}

export function encodeAcceptInfo(info: AcceptInfo): Uint8Array {
  return Uint8Array.of(...MAGIC, VERSION, info.durable ? DURABLE : 0);
}

/** The info in an ACCEPT's user data, or undefined when it carries none. Later versions keep bit 0. */
export function decodeAcceptInfo(userData: Uint8Array): AcceptInfo | undefined {
  if (userData.length < MAGIC.length + 2) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (userData[i] !== MAGIC[i]) return undefined;
  if ((userData[MAGIC.length] as number) < VERSION) return undefined;
  return { durable: ((userData[MAGIC.length + 1] as number) & DURABLE) !== 0 };
}
