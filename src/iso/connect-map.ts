// The connect exchange: CONNECT/ACCEPT/REFUSE frames <-> CN/AC/RF SPDUs.
//
// The machine negotiates Colloquy's parameters; X.225 has its own. This file fills in, on each
// side, what the other encoding does not carry:
//   - X.225 protocol version (PI 22): negotiated here, not by the machine. The machine always
//     sees its own version 1; a CN offering no version this side supports becomes a CONNECT with
//     no usable version, which the machine refuses (versionUnsupported -> RF reason 132).
//   - functional units (PI 20) and tokens (PI 16/26) map bit for bit (frames.ts follows X.225);
//     units X.225 defines and Colloquy lacks (symmetric sync, data separation) are dropped, i.e.
//     not selected, as X.225's AND of proposal and support says.
//   - dialogue mode: half-duplex unit = halfDuplex, duplex unit = fullDuplex (simplex is a
//     Colloquy extension; the ISO runtime does not propose it).
//   - max frame size, heartbeat and resume window are Colloquy's and never cross the wire: each
//     side uses its own frame size, no heartbeat, no resume window.
//   - Initial Serial Number (PI 23): sent when minor sync, major sync or resynchronize is proposed
//     (CN) or selected (AC) and activity management is not (X.225 and ISODE's rule); when a CN or
//     AC leaves it out the machine uses 1, or the CN's value.

import { ProtocolError } from '../engine/errors.js';
import {
  ALL_UNITS,
  DialogueMode,
  EMPTY,
  PROTOCOL_VERSION,
  RefuseReason,
  Token,
  TOKEN_NAMES,
  TokenPosition,
  Unit,
} from '../engine/frames.js';
import type {
  AcceptFrame,
  ConnectFrame,
  RefuseFrame,
  RefuseReasonValue,
  TokenSetting,
  UnitSet,
} from '../engine/frames.js';
import { availableTokens } from '../engine/machine/tokens.js';
import { cannotEncode, malformed } from './octets.js';
import {
  DEFAULT_REQUIREMENTS,
  MAX_CONNECT_DATA_V2,
  REFUSE_REASONS,
  TransportDisconnect,
  V1_USER_DATA,
} from './spdu-codes.js';
import type { Spdu } from './spdu.js';

type Bytes = Uint8Array;

/** X.225 versions as a PI 22 bitmap: 0x01 version 1, 0x02 version 2, 0x03 both. */
export type VersionBits = number;

export function highestVersion(bits: VersionBits): 0 | 1 | 2 {
  return bits & 0x02 ? 2 : bits & 0x01 ? 1 : 0;
}

function needsIsn(units: UnitSet): boolean {
  return (units & (Unit.minorSync | Unit.majorSync | Unit.resynchronize)) !== 0 && (units & Unit.activities) === 0;
}

/** The bits of a Token Setting Item that belong to tokens existing under `units`. */
function settingMask(units: UnitSet): number {
  const available = availableTokens(units);
  let mask = 0;
  for (const name of TOKEN_NAMES) if (available & Token[name]) mask |= 0b11 << (31 - Math.clz32(Token[name]));
  return mask;
}

function positions(setting: TokenSetting, units: UnitSet): number[] {
  const available = availableTokens(units);
  return TOKEN_NAMES.filter((n) => available & Token[n]).map((n) => (setting >> (31 - Math.clz32(Token[n]))) & 0b11);
}

// ---- initiator --------------------------------------------------------------------------

export interface InitiatorProfile {
  versions: VersionBits;
  callingSsel?: Bytes;
  calledSsel?: Bytes;
  compat: boolean;
}

export function connectToCn(c: ConnectFrame, p: InitiatorProfile): Spdu {
  const mask = settingMask(c.units);
  const ud = c.userData;
  if (ud.length > V1_USER_DATA && !(p.versions & 0x02))
    cannotEncode(
      `CN user data of ${ud.length} octets needs X.225 version 2 (version 1 allows ${V1_USER_DATA})`,
      V1_USER_DATA,
    );
  if (ud.length > MAX_CONNECT_DATA_V2)
    cannotEncode(
      `CN user data of ${ud.length} octets (X.225 allows ${MAX_CONNECT_DATA_V2} without Data Overflow, which is not supported)`,
      MAX_CONNECT_DATA_V2,
    );
  return {
    type: 'CN',
    connectAccept: {
      protocolOptions: 0,
      versions: p.versions,
      initialSerial: needsIsn(c.units) ? c.initialSerial : undefined,
      tokenSetting: mask ? c.tokenSetting & mask : undefined,
    },
    requirements: c.units,
    callingSsel: p.callingSsel,
    calledSsel: p.calledSsel,
    // No user data, no PGI 193 (X.225: the parameter is absent), in libiec61850 mode too: an
    // empty group only moves the refusal up to the peer's presentation layer.
    userData: ud.length > V1_USER_DATA || ud.length === 0 ? undefined : ud,
    extendedUserData: ud.length > V1_USER_DATA ? ud : undefined,
  };
}

export interface AcceptResult {
  frame: AcceptFrame;
  version: 1 | 2;
  /** Tokens the responder asked for in its AC (PI 16): an implicit please-tokens. */
  requested: number;
}

function negotiationFailed(message: string): never {
  throw new ProtocolError('ERR_NEGOTIATION_FAILED', `the AC does not fit the CN: ${message}`);
}

export function acToAccept(ac: Spdu, offered: ConnectFrame, versions: VersionBits): AcceptResult {
  const item = ac.connectAccept ?? {};
  const chosen = item.versions ?? 0x01;
  if ((chosen !== 0x01 && chosen !== 0x02) || !(chosen & versions))
    negotiationFailed(`version bitmap 0x${chosen.toString(16)} answers an offer of 0x${versions.toString(16)}`);
  const units = (ac.requirements ?? DEFAULT_REQUIREMENTS) & ALL_UNITS;
  const duplex = (units & Unit.duplex) !== 0;
  if (duplex === ((units & Unit.halfDuplex) !== 0))
    negotiationFailed('exactly one of half-duplex and duplex must be selected');
  const mask = settingMask(units);
  let tokenSetting: number;
  if (item.tokenSetting !== undefined) {
    tokenSetting = item.tokenSetting & mask;
    if (positions(tokenSetting, units).some((p) => p > TokenPosition.acceptor))
      negotiationFailed('the AC leaves a token position to be chosen');
  } else {
    // No Token Setting Item: the positions proposed stand; "called SS-user's choice" went to the acceptor.
    tokenSetting = 0;
    for (const name of TOKEN_NAMES) {
      const shift = 31 - Math.clz32(Token[name]);
      const pos = (offered.tokenSetting >> shift) & 0b11;
      tokenSetting |= (pos === TokenPosition.acceptorChooses ? TokenPosition.acceptor : pos) << shift;
    }
    tokenSetting &= mask;
  }
  return {
    version: chosen === 0x02 ? 2 : 1,
    requested: ac.tokens ?? 0,
    frame: {
      type: 'ACCEPT',
      version: PROTOCOL_VERSION,
      units,
      mode: duplex ? DialogueMode.fullDuplex : DialogueMode.halfDuplex,
      simplexSender: offered.simplexSender,
      tokenSetting,
      initialSerial: item.initialSerial ?? offered.initialSerial,
      maxFrameSize: offered.maxFrameSize,
      heartbeatMs: 0,
      resumeWindowMs: 0,
      sessionId: ac.reference?.common ?? EMPTY,
      resumeSecret: EMPTY,
      userData: ac.userData ?? EMPTY,
    },
  };
}

const REFUSE_FROM_X225: Record<number, RefuseReasonValue> = {
  1: RefuseReason.congested,
  131: RefuseReason.congested,
  132: RefuseReason.versionUnsupported,
  133: RefuseReason.invalidParameters,
  134: RefuseReason.unitsUnsupported,
};

export function rfToRefuse(rf: Spdu): RefuseFrame {
  const code = rf.reason;
  const name =
    code === undefined ? 'no reason code' : `reason ${code}: ${REFUSE_REASONS.get(code) ?? 'unknown reason code'}`;
  return {
    type: 'REFUSE',
    reason: (code === undefined ? undefined : REFUSE_FROM_X225[code]) ?? RefuseReason.rejected,
    message: `the peer refused the session (X.225 RF ${name})`,
    userData: rf.userData ?? EMPTY,
  };
}

// ---- acceptor ---------------------------------------------------------------------------

export interface ConnectResult {
  frame: ConnectFrame;
  /** The version both support (0: none; the machine will refuse). */
  version: 0 | 1 | 2;
}

export function cnToConnect(cn: Spdu, supported: VersionBits, maxFrameSize: number): ConnectResult {
  const ud = cn.userData ?? cn.extendedUserData ?? EMPTY;
  if (ud.length > MAX_CONNECT_DATA_V2)
    malformed('SPDU', `CN with ${ud.length} octets of user data (at most ${MAX_CONNECT_DATA_V2})`);
  const item = cn.connectAccept ?? {};
  // No Version Number: version 1, unless the user data only fits version 2 (ISODE does the same).
  const offered = item.versions ?? (ud.length > V1_USER_DATA || cn.extendedUserData ? 0x02 : 0x01);
  const version = highestVersion(offered & supported);
  if (version === 1 && (ud.length > V1_USER_DATA || cn.extendedUserData))
    malformed('SPDU', `a version 1 CN with ${ud.length} octets of user data (at most ${V1_USER_DATA})`);
  const units = (cn.requirements ?? DEFAULT_REQUIREMENTS) & ALL_UNITS;
  const tokenSetting = (item.tokenSetting ?? 0) & settingMask(units);
  if (positions(tokenSetting, units).includes(3)) malformed('SPDU', 'CN Token Setting Item uses the reserved value 11');
  const v = version === 0 ? 0 : PROTOCOL_VERSION;
  return {
    version,
    frame: {
      type: 'CONNECT',
      minVersion: v,
      maxVersion: v,
      units,
      modes:
        (units & Unit.halfDuplex ? DialogueMode.halfDuplex : 0) | (units & Unit.duplex ? DialogueMode.fullDuplex : 0),
      simplexSender: 'initiator',
      tokenSetting,
      initialSerial: item.initialSerial ?? 1,
      maxFrameSize,
      heartbeatMs: 0,
      resumeWindowMs: 0,
      credentials: EMPTY,
      userData: ud,
    },
  };
}

export function acceptToAc(a: AcceptFrame, cn: Spdu, version: 1 | 2, compat: boolean): Spdu {
  const mask = settingMask(a.units);
  return {
    type: 'AC',
    connectAccept: {
      // This side cannot receive extended concatenation (Protocol Options bit 1 = 0).
      protocolOptions: 0,
      versions: version === 2 ? 0x02 : 0x01,
      initialSerial: needsIsn(a.units) ? a.initialSerial : undefined,
      tokenSetting: mask ? a.tokenSetting & mask : undefined,
    },
    requirements: a.units,
    calledSsel: cn.calledSsel,
    userData: a.userData.length || compat ? a.userData : undefined,
  };
}

const REFUSE_TO_X225: Record<RefuseReasonValue, number> = {
  [RefuseReason.rejected]: 0,
  [RefuseReason.unauthorized]: 0,
  [RefuseReason.congested]: 1,
  [RefuseReason.versionUnsupported]: 132,
  [RefuseReason.unitsUnsupported]: 134,
  [RefuseReason.invalidParameters]: 133,
  [RefuseReason.shuttingDown]: 131,
};

/** RF for a REFUSE: user data rides after the reason code, which is then 2 for user refusals. */
export function refuseToRf(r: RefuseFrame, supported: VersionBits): Spdu {
  let code = REFUSE_TO_X225[r.reason] ?? 0;
  if (r.userData.length > 0 && code === 0) code = 2;
  return {
    type: 'RF',
    transportDisconnect: TransportDisconnect.released,
    versions: r.reason === RefuseReason.versionUnsupported ? supported : undefined,
    reason: code,
    userData: r.userData.length ? r.userData : undefined,
  };
}

/** An RF the profile sends on its own (a session selector nobody listens on: reason 129). */
export function providerRefusal(code: number): Spdu {
  return { type: 'RF', transportDisconnect: TransportDisconnect.released, reason: code };
}
