// SPDU codec: TSDU bytes <-> SPDUs, for every SPDU of X.225 this profile speaks.
//
//   SPDU  = SI | LI | parameter field (PI and PGI units) | user information (DT, EX, TD only)
//   TSDU  = one category 1 SPDU | one category 0 SPDU | a category 0 SPDU + a category 2 SPDU
//
// The LI counts the parameter field only. User data of every SPDU but DT, EX and TD rides inside
// the parameter field (PGI 193, or 194 in a version 2 CN, PI 46 in MIA, the tail of PI 50 in RF).
// A decoded SPDU is a plain object holding the parameters it carried and nothing else, so
// encodeTsdu(decodeTsdu(x)) === x for every TSDU written in X.225 order with minimal lengths.
//
// Rules
//   - decodeTsdu throws only ProtocolError: an unknown SI (ERR_UNKNOWN_FRAME_TYPE), a parameter
//     the SPDU may not carry, a repeated one, a value of the wrong size, a length past its field,
//     a long-form LI below 255, extended concatenation (ERR_MALFORMED_FRAME).
//   - Decoding is lenient where peers differ and no meaning is lost: parameters in any order, a
//     category 2 SPDU without a GT in front (when its SI is not shared), MIA user data in PI 46
//     (ISODE) or PGI 193.
//   - encodeSpdu/encodeTsdu refuse (local SessionError) fields the SPDU does not have, values out
//     of range and, with `shortOnly` (libiec61850 mode), any length past 254.
//   - SI 42 is MAA unless the caller says it awaits an AEA (`si42: 'AEA'`); SI 41 is MAP when its
//     Sync Type Item has bit 1 set, else AE.
//
// This file holds the SPDU's shape; the two directions are ./spdu-decode.ts and
// ./spdu-encode.ts, re-exported here.

import type { SpduType } from './spdu-codes.js';

export { decodeTsdu } from './spdu-decode.js';
export { encodeSpdu, encodeTsdu, tsduOf } from './spdu-encode.js';

type Bytes = Uint8Array;

/** PGI 1 (CN, AC, RF) and the references inside PGI 33 (AR). */
export interface Reference {
  called?: Bytes;
  calling?: Bytes;
  common?: Bytes;
  additional?: Bytes;
}
/** PGI 5 Connect/Accept Item. */
export interface ConnectAcceptItem {
  protocolOptions?: number;
  /** PI 21: largest TSDU initiator -> responder, responder -> initiator; 0 = no limit. */
  tsduMaxSize?: [number, number];
  /** PI 22 bitmap: 0x01 version 1, 0x02 version 2. */
  versions?: number;
  initialSerial?: number;
  tokenSetting?: number;
}
/** PGI 33 Linking Information (AR). */
export interface Linking extends Reference {
  oldActivityId?: Bytes;
  serial?: number;
}

export interface Spdu {
  type: SpduType;
  reference?: Reference;
  connectAccept?: ConnectAcceptItem;
  tokens?: number;
  transportDisconnect?: number;
  requirements?: number;
  /** PI 22 at the top level (RF: the versions the refuser supports). */
  versions?: number;
  callingSsel?: Bytes;
  /** PI 52: the called session selector in CN, the responding one in AC. */
  calledSsel?: Bytes;
  syncType?: number;
  serial?: number;
  tokenSetting?: number;
  resyncType?: number;
  activityId?: Bytes;
  linking?: Linking;
  reason?: number;
  reflect?: Bytes;
  prepareType?: number;
  enclosure?: number;
  /** PGI 193; in RF, the octets of PI 50 after the reason code. */
  userData?: Bytes;
  /** PGI 194 (a version 2 CN with more than 512 octets of user data). */
  extendedUserData?: Bytes;
  /** PI 46 (MIA user data, as ISODE writes it). */
  miaUserData?: Bytes;
  /** DT, EX, TD: the user information field after the parameters. */
  userInfo?: Bytes;
}

export interface DecodeOptions {
  /** What SI 42 means now: the answer to our MAP (default) or to our AE. */
  si42?: 'MAA' | 'AEA';
}

export interface EncodeOptions {
  /** One-octet length indicators only (libiec61850 reads no other form). */
  shortOnly?: boolean;
}
