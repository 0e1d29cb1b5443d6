// X.225 / ISO 8327-1 codes: SPDU identifiers (SI), their categories, parameter codes (PI/PGI),
// and for every SPDU the parameters it may carry, in the order X.225 lists them (the order the
// encoder writes and ISODE, libiec61850 and Wireshark agree on).
//
// Several SPDUs share an SI; the receiver tells them apart (X.225 8.2, ISODE tsdu2spkt):
//   SI 1  first in a TSDU = GT (category 0), after a category 0 SPDU = DT
//   SI 25 first = AB (category 1), after category 0 = AI;  SI 26 likewise AA / AIA
//   SI 41 MAP carries Sync Type Item bit 1 ("activity not ended"); without it, AE
//   SI 42 MAA or AEA: only the state tells (which of MAP or AE awaits its answer)

export const SPDU_TYPES = [
  'CN',
  'AC',
  'RF',
  'FN',
  'DN',
  'NF',
  'AB',
  'AA',
  'GT',
  'PT',
  'DT',
  'EX',
  'TD',
  'CD',
  'CDA',
  'GTC',
  'GTA',
  'MIP',
  'MIA',
  'MAP',
  'MAA',
  'RS',
  'RA',
  'AS',
  'AR',
  'AI',
  'AIA',
  'AD',
  'ADA',
  'AE',
  'AEA',
  'ER',
  'ED',
  'PR',
] as const;
export type SpduType = (typeof SPDU_TYPES)[number];

/** Category 0 may precede a category 2 SPDU; category 1 travels alone; category 2 follows a category 0. */
export type Category = 0 | 1 | 2;

export const SI: Record<SpduType, number> = {
  CN: 13,
  AC: 14,
  RF: 12,
  FN: 9,
  DN: 10,
  NF: 8,
  AB: 25,
  AA: 26,
  GT: 1,
  PT: 2,
  DT: 1,
  EX: 5,
  TD: 33,
  CD: 61,
  CDA: 62,
  GTC: 21,
  GTA: 22,
  MIP: 49,
  MIA: 50,
  MAP: 41,
  MAA: 42,
  RS: 53,
  RA: 34,
  AS: 45,
  AR: 29,
  AI: 25,
  AIA: 26,
  AD: 57,
  ADA: 58,
  AE: 41,
  AEA: 42,
  ER: 0,
  ED: 48,
  PR: 7,
};

export const CATEGORY: Record<SpduType, Category> = {
  GT: 0,
  PT: 0,
  CN: 1,
  AC: 1,
  RF: 1,
  FN: 1,
  DN: 1,
  NF: 1,
  AB: 1,
  AA: 1,
  GTC: 1,
  GTA: 1,
  EX: 1,
  TD: 1,
  PR: 1,
  DT: 2,
  CD: 2,
  CDA: 2,
  MIP: 2,
  MIA: 2,
  MAP: 2,
  MAA: 2,
  RS: 2,
  RA: 2,
  AS: 2,
  AR: 2,
  AI: 2,
  AIA: 2,
  AD: 2,
  ADA: 2,
  AE: 2,
  AEA: 2,
  ER: 2,
  ED: 2,
};

/** SPDUs whose user information field (after the parameters) runs to the end of the TSDU. */
export const HAS_USER_INFO: ReadonlySet<SpduType> = new Set(['DT', 'EX', 'TD']);

/** An SI first in a TSDU. */
export const FIRST_SI: ReadonlyMap<number, SpduType> = new Map<number, SpduType>([
  [1, 'GT'],
  [2, 'PT'],
  [13, 'CN'],
  [14, 'AC'],
  [12, 'RF'],
  [9, 'FN'],
  [10, 'DN'],
  [8, 'NF'],
  [25, 'AB'],
  [26, 'AA'],
  [21, 'GTC'],
  [22, 'GTA'],
  [5, 'EX'],
  [33, 'TD'],
  [7, 'PR'],
  // A category 2 SPDU alone (no GT in front) is tolerated when its SI is not shared.
  [61, 'CD'],
  [62, 'CDA'],
  [49, 'MIP'],
  [50, 'MIA'],
  [41, 'MAP'],
  [42, 'MAA'],
  [53, 'RS'],
  [34, 'RA'],
  [45, 'AS'],
  [29, 'AR'],
  [57, 'AD'],
  [58, 'ADA'],
  [0, 'ER'],
  [48, 'ED'],
]);

/** An SI after a category 0 SPDU (SI 41 and 42 are refined afterwards). */
export const SECOND_SI: ReadonlyMap<number, SpduType> = new Map<number, SpduType>([
  [1, 'DT'],
  [25, 'AI'],
  [26, 'AIA'],
  [61, 'CD'],
  [62, 'CDA'],
  [49, 'MIP'],
  [50, 'MIA'],
  [41, 'MAP'],
  [42, 'MAA'],
  [53, 'RS'],
  [34, 'RA'],
  [45, 'AS'],
  [29, 'AR'],
  [57, 'AD'],
  [58, 'ADA'],
  [0, 'ER'],
  [48, 'ED'],
]);

/** SIs X.225 defines that this profile does not speak: CDO and OA (version 2 connect data overflow). */
export const UNSUPPORTED_SI: ReadonlyMap<number, string> = new Map([
  [15, 'CONNECT DATA OVERFLOW (CDO)'],
  [16, 'OVERFLOW ACCEPT (OA)'],
]);

/** Parameter codes (X.225 8.3; PGIs hold PIs, except 193/194, which hold user data). */
export const PI = {
  connectionId: 1, // PGI: 9, 10, 11, 12
  connectAccept: 5, // PGI: 19, 21, 22, 23, 26
  calledReference: 9,
  callingReference: 10,
  commonReference: 11,
  additionalReference: 12,
  syncType: 15,
  tokenItem: 16,
  transportDisconnect: 17,
  protocolOptions: 19,
  requirements: 20,
  tsduMaxSize: 21,
  version: 22,
  initialSerial: 23,
  prepareType: 24,
  enclosure: 25,
  tokenSetting: 26,
  resyncType: 27,
  linking: 33, // PGI (AR): 9, 10, 11, 12, 41, 42
  activityId: 41,
  serial: 42,
  miaUserData: 46,
  reflect: 49,
  reason: 50,
  callingSsel: 51,
  calledSsel: 52, // in AC: the responding session selector
  dataOverflow: 60,
  userData: 193,
  extendedUserData: 194,
} as const;

/** The fields of a decoded SPDU and the parameter each one comes from. */
export type TopField =
  | 'reference'
  | 'connectAccept'
  | 'tokens'
  | 'transportDisconnect'
  | 'requirements'
  | 'versions'
  | 'callingSsel'
  | 'calledSsel'
  | 'syncType'
  | 'serial'
  | 'tokenSetting'
  | 'resyncType'
  | 'activityId'
  | 'linking'
  | 'reason'
  | 'reflect'
  | 'prepareType'
  | 'enclosure'
  | 'userData'
  | 'extendedUserData'
  | 'miaUserData';

export const FIELD_CODE: Record<TopField, number> = {
  reference: PI.connectionId,
  connectAccept: PI.connectAccept,
  tokens: PI.tokenItem,
  transportDisconnect: PI.transportDisconnect,
  requirements: PI.requirements,
  versions: PI.version,
  callingSsel: PI.callingSsel,
  calledSsel: PI.calledSsel,
  syncType: PI.syncType,
  serial: PI.serial,
  tokenSetting: PI.tokenSetting,
  resyncType: PI.resyncType,
  activityId: PI.activityId,
  linking: PI.linking,
  reason: PI.reason,
  reflect: PI.reflect,
  prepareType: PI.prepareType,
  enclosure: PI.enclosure,
  userData: PI.userData,
  extendedUserData: PI.extendedUserData,
  miaUserData: PI.miaUserData,
};

const UD = ['enclosure', 'userData'] as const;

/** Parameters each SPDU may carry, in X.225 order (ISODE spkt2tsdu writes them in this order). */
export const LAYOUT: Record<SpduType, readonly TopField[]> = {
  CN: ['reference', 'connectAccept', 'requirements', 'callingSsel', 'calledSsel', 'userData', 'extendedUserData'],
  AC: ['reference', 'connectAccept', 'tokens', 'requirements', 'callingSsel', 'calledSsel', ...UD],
  RF: ['reference', 'transportDisconnect', 'requirements', 'versions', 'enclosure', 'reason'],
  FN: ['transportDisconnect', ...UD],
  DN: UD,
  NF: UD,
  AB: ['transportDisconnect', 'reflect', ...UD],
  AA: [],
  GT: ['tokens'],
  PT: ['tokens', ...UD],
  DT: ['enclosure'],
  EX: [],
  TD: ['enclosure'],
  CD: UD,
  CDA: UD,
  GTC: [],
  GTA: [],
  MIP: ['syncType', 'serial', ...UD],
  MIA: ['serial', 'enclosure', 'miaUserData', 'userData'],
  MAP: ['syncType', 'serial', ...UD],
  MAA: ['serial', ...UD],
  RS: ['tokenSetting', 'resyncType', 'serial', ...UD],
  RA: ['tokenSetting', 'serial', ...UD],
  AS: ['activityId', ...UD],
  AR: ['linking', 'activityId', ...UD],
  AI: ['reason'],
  AIA: [],
  AD: ['reason'],
  ADA: [],
  AE: ['syncType', 'serial', ...UD],
  AEA: ['serial', ...UD],
  ER: ['reflect'],
  ED: ['reason', ...UD],
  PR: ['prepareType'],
};

/** Sync Type Item bit 1: on MIP "explicit confirmation not required", on MAP "activity not ended". */
export const SYNC_TYPE_BIT = 0x01;
/** Transport Disconnect (PI 17) bits. */
export const TransportDisconnect = {
  released: 0x01,
  userAbort: 0x02,
  protocolError: 0x04,
  noReason: 0x08,
  implementationRestriction: 0x10,
} as const;
/** Enclosure Item (PI 25) bits. */
export const Enclosure = { begin: 0x01, end: 0x02 } as const;
/** Version Number (PI 22) bits. */
export const VersionBit = { 1: 0x01, 2: 0x02 } as const;
/** Session User Requirements when a CN or AC does not carry PI 20 (ISODE SR_DEFAULT). */
export const DEFAULT_REQUIREMENTS = 0x0349;

/** REFUSE reason codes (PI 50, first octet) and their names. */
export const REFUSE_REASONS: ReadonlyMap<number, string> = new Map([
  [0, 'rejected by the called SS-user, no reason given'],
  [1, 'rejected by the called SS-user, temporary congestion'],
  [2, 'rejected by the called SS-user (user data follows)'],
  [129, 'session selector unknown'],
  [130, 'SS-user not attached to SSAP'],
  [131, 'SPM congestion at connect time'],
  [132, 'proposed protocol versions not supported'],
  [133, 'rejected by the SPM, reason not specified'],
  [134, 'rejected by the SPM, implementation restriction stated in the PICS'],
]);

/** Limits (X.225 and ISODE's *_SIZE): user data per SPDU by protocol version. */
export const V1_USER_DATA = 512;
export const V1_ABORT_USER_DATA = 9;
export const MAX_EXPEDITED_DATA = 14;
export const MAX_CAPABILITY_DATA = 512;
export const MAX_CONNECT_DATA_V2 = 10_240;
export const MAX_ACTIVITY_ID = 6;
export const MAX_SSEL = 16;
export const MAX_REFERENCE = 64;
export const MAX_ADDITIONAL_REFERENCE = 4;
export const MAX_SERIAL_DIGITS = 6;
/** A parameter field or parameter value with a three-octet LI holds at most this much. */
export const MAX_LI = 65_535;
/** Largest length the one-octet LI form holds (255 is the escape to the three-octet form). */
export const MAX_SHORT_LI = 254;
