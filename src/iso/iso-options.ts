// The ISO profile's options (IsoWireOptions, shared by connectIso and listenIso) and their checks.

import { SessionError } from '../engine/errors.js';
import type { VersionBits } from './connect-map.js';
import { MAX_TPDU_SIZE_CODE, MIN_TPDU_SIZE_CODE } from './tpkt-cotp.js';

type Bytes = Uint8Array;

export interface IsoWireOptions {
  role: 'initiator' | 'acceptor';
  /** CR calling TSAP (initiator). Default `00 01`. */
  callingTsap?: Bytes;
  /** Initiator: the CR's called TSAP (default `00 01`). Acceptor: if set, a CR for another TSAP gets DR (address unknown). */
  calledTsap?: Bytes;
  /** Initiator: the CN's calling session selector (default `00 01`). */
  callingSsel?: Bytes;
  /** Initiator: the CN's called session selector (default `00 01`). Acceptor: if set, a CN for another gets RF reason 129. */
  calledSsel?: Bytes;
  /** Largest TPDU, in octets: a power of two from 128 to 8192. Initiator proposes it, acceptor caps at it. Default 8192. */
  tpduSize?: number;
  /** X.225 versions offered (initiator) or supported (acceptor): [1, 2] by default, [2] in libiec61850 mode. */
  versions?: readonly (1 | 2)[];
  /** libiec61850 compatibility: version 2 only, one-octet lengths, PGI 193 always in AC/FN/DN (and in a CN with user data). */
  libiec61850?: boolean;
  /** This side's COTP reference. Default 1. */
  localRef?: number;
}

/** The transport connection as COTP set it up. */
export interface CotpInfo {
  tpduSize: number;
  callingTsap?: Bytes;
  calledTsap?: Bytes;
  peerRef: number;
}

export const DEFAULT_SELECTOR = Uint8Array.of(0x00, 0x01);

export function sizeCode(bytes: number): number {
  const code = Math.log2(bytes);
  if (!Number.isInteger(code) || code < MIN_TPDU_SIZE_CODE || code > MAX_TPDU_SIZE_CODE) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `tpduSize must be a power of two from 128 to 8192, not ${bytes}`,
      'local',
      { tpduSize: bytes },
    );
  }
  return code;
}

export function versionBits(versions: readonly (1 | 2)[]): VersionBits {
  let bits = 0;
  for (const v of versions) {
    if (v !== 1 && v !== 2)
      throw new SessionError('ERR_INVALID_ARGUMENT', `X.225 versions are 1 and 2, not ${String(v)}`, 'local', {
        versions,
      });
    bits |= v;
  }
  if (!bits) throw new SessionError('ERR_INVALID_ARGUMENT', 'offer at least one X.225 version', 'local');
  return bits;
}
