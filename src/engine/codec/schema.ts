// The frame schema: every frame's body, field by field in wire order, with what each field means
// and what constrains it (docs/protocol.md §3-4). It is the one description of the format: the
// encoder (./encode-body.ts) and the decoder (./decode-body.ts) walk these lists, and the frame
// tables of docs/protocol.md §4 are generated from them (scripts/gen-docs.ts). Value rules that
// span fields or need tables (reason codes, token settings, serial ranges) are checked by
// ./validate.ts on both sides; the `constraints` text here is what the document says of them.
//
// Field types (docs/protocol.md §3): u8, u16, u32, count (varint), id16 (16 bytes), bytes
// (varint length + bytes), string (varint length + UTF-8), rest and rest-string (the rest of the
// body: always last). Three have a wire rule of their own: `magic` (the 4 bytes CLQY, not on the
// frame object), `sender` (u8 0/1 <-> 'initiator'/'acceptor') and `flag` (u8 0/1 <-> boolean;
// `wire` names the byte when the object calls it otherwise).

import type { FrameTypeName } from '../frames.js';

export type FieldType =
  'u8' | 'u16' | 'u32' | 'count' | 'id16' | 'bytes' | 'string' | 'rest' | 'rest-string' | 'magic' | 'sender' | 'flag';

export interface FieldSpec {
  /** The property of the frame object (for `magic`, only a name for the document). */
  readonly name: string;
  readonly type: FieldType;
  readonly meaning: string;
  /** Docs text; '—' when the codec puts no constraint on the value. */
  readonly constraints: string;
  /** The byte's name on the wire, when the frame object calls it otherwise (MINOR_SYNC flags). */
  readonly wire?: string;
  /** flag: the decoder's complaint about a byte other than 0 and 1. */
  readonly badFlag?: (value: number) => string;
  /** flag: the encoder refuses a value that is not a boolean (else any truthy value is 1). */
  readonly strict?: boolean;
  /**
   * Optional trailing field (only the last one of a body): absent when the body ends before it,
   * and then missing from the frame object (an older sender); written only when the object has it.
   */
  readonly optional?: boolean;
}

const f = (name: string, type: FieldType, meaning: string, constraints = '—'): FieldSpec => ({
  name,
  type,
  meaning,
  constraints,
});
const SERIAL = '≤ 999 999';
const userData = (meaning = 'user data'): FieldSpec => f('userData', 'rest', meaning);
const serial = (meaning: string): FieldSpec => f('serial', 'u32', meaning, SERIAL);
const payload = (constraints = '—'): FieldSpec => f('payload', 'rest', "the user's bytes", constraints);
const received = (meaning: string): FieldSpec => f('received', 'count', meaning);
const ACTIVITY_ID = '1-64 bytes';

/** Every frame's body in wire order. */
export const FRAME_SCHEMA: Readonly<Record<FrameTypeName, readonly FieldSpec[]>> = {
  CONNECT: [
    f('magic', 'magic', 'ASCII `CLQY` (`43 4c 51 59`)', 'exactly'),
    f('minVersion', 'u8', 'lowest protocol version offered', '≥ 1'),
    f('maxVersion', 'u8', 'highest protocol version offered', '≥ minVersion'),
    f('units', 'u16', 'functional units proposed (§6.2)', '⊆ 0x07ff'),
    f('modes', 'u8', 'dialogue modes acceptable (§6.5), bitmask', 'non-zero, ⊆ 0x07'),
    f('simplexSender', 'sender', 'who sends in simplex mode: 0 initiator, 1 acceptor', '0 or 1'),
    f('tokenSetting', 'u8', 'proposed initial token positions (§6.4)', 'no pair = 3'),
    f('initialSerial', 'u32', 'first sync-point serial number', SERIAL),
    f('maxFrameSize', 'u32', 'largest frame body proposed, bytes'),
    f('heartbeatMs', 'u32', 'heartbeat interval proposed, ms (0: none)'),
    f('resumeWindowMs', 'u32', 'how long a cut session may wait for a resume, ms'),
    f('credentials', 'bytes', 'authentication data for the acceptor (opaque)'),
    userData('connect user data'),
  ],
  ACCEPT: [
    f('version', 'u8', 'protocol version chosen'),
    f('units', 'u16', 'functional units selected', '⊆ 0x07ff'),
    f('mode', 'u8', 'dialogue mode chosen', 'exactly one of 1, 2, 4'),
    f('simplexSender', 'sender', '0 initiator, 1 acceptor', '0 or 1'),
    f('tokenSetting', 'u8', 'initial token positions, settled', 'every pair 0 or 1'),
    f('initialSerial', 'u32', 'first sync-point serial number', SERIAL),
    f('maxFrameSize', 'u32', 'frame body limit in force, both directions'),
    f('heartbeatMs', 'u32', 'heartbeat interval in force (0: none)'),
    f('resumeWindowMs', 'u32', 'resume window in force'),
    f('sessionId', 'id16', 'session identifier', '16 bytes'),
    f('resumeSecret', 'id16', 'secret the initiator presents to resume', '16 bytes'),
    userData('accept user data'),
  ],
  REFUSE: [
    f('reason', 'u8', 'refuse reason (§6.6)', 'in the table'),
    f('message', 'string', 'human-readable explanation', '≤ 1024 bytes'),
    userData('refuse user data'),
  ],
  RESUME: [
    f('sessionId', 'id16', 'the session to resume', '16 bytes'),
    f('resumeSecret', 'id16', 'the secret from ACCEPT', '16 bytes'),
    received('session frames the initiator has received so far (§7)'),
    {
      ...f(
        'acked',
        'count',
        "the initiator's session frames the acceptor has acknowledged (§7)",
        'optional: absent from older initiators',
      ),
      optional: true,
    },
  ],
  RESUMED: [received('session frames the acceptor has received so far (§7)')],
  RESUME_REFUSED: [
    f('reason', 'u8', 'resume refuse reason (§6.7)', 'in the table'),
    f('message', 'rest-string', 'human-readable explanation', '≤ 1024 bytes'),
  ],
  ACK: [received('session frames received so far in the session (§7)')],
  HEARTBEAT: [],
  ABORT: [
    f('reason', 'u8', 'abort reason (§6.8)', 'in the table'),
    f('message', 'string', 'human-readable explanation', '≤ 1024 bytes'),
    userData('abort user data (user aborts)'),
  ],
  DATA: [payload()],
  EXPEDITED: [payload('≤ 64 bytes')],
  TYPED: [payload()],
  CAPABILITY: [payload()],
  CAPABILITY_ACK: [payload()],
  GIVE_TOKENS: [f('tokens', 'u8', 'tokens handed to the peer (§6.3)', '⊆ 0x55')],
  PLEASE_TOKENS: [f('tokens', 'u8', 'tokens asked for (§6.3)', '⊆ 0x55'), userData('request user data')],
  GIVE_CONTROL: [],
  GIVE_CONTROL_ACK: [],
  MINOR_SYNC: [
    {
      name: 'confirm',
      wire: 'flags',
      type: 'flag',
      meaning: 'bit 0: confirmation wanted',
      constraints: 'bits 1-7 zero',
      badFlag: (v) => `reserved bits set (0x${v.toString(16)})`,
      strict: true,
    },
    serial('serial number of this sync point'),
    userData('sync user data (e.g. a media timestamp)'),
  ],
  MINOR_SYNC_ACK: [serial('serial number of the sync point set or confirmed'), userData()],
  MAJOR_SYNC: [serial('serial number of the sync point set or confirmed'), userData()],
  MAJOR_SYNC_ACK: [serial('serial number of the sync point set or confirmed'), userData()],
  RESYNC: [
    f('resyncType', 'u8', 'restart, abandon or set (§6.9)', '0, 1 or 2'),
    serial('serial number to resynchronize to'),
    f('tokenSetting', 'u8', 'token positions after the resynchronization (§6.4)', 'every pair 0 or 1'),
    userData(),
  ],
  RESYNC_ACK: [
    serial('serial number agreed'),
    f('tokenSetting', 'u8', 'token positions after the resynchronization', 'every pair 0 or 1'),
    userData(),
  ],
  ACTIVITY_START: [f('activityId', 'bytes', 'identifier of the new activity', ACTIVITY_ID), userData()],
  ACTIVITY_RESUME: [
    f('activityId', 'bytes', 'identifier of the activity as resumed', ACTIVITY_ID),
    f('oldActivityId', 'bytes', 'identifier of the interrupted activity', ACTIVITY_ID),
    serial('last sync-point serial of the old activity; serials continue after it'),
    userData(),
  ],
  ACTIVITY_INTERRUPT: [f('reason', 'u8', 'application-defined reason', 'any')],
  ACTIVITY_INTERRUPT_ACK: [],
  ACTIVITY_DISCARD: [f('reason', 'u8', 'application-defined reason', 'any')],
  ACTIVITY_DISCARD_ACK: [],
  ACTIVITY_END: [serial('serial number of the sync point set or confirmed'), userData()],
  ACTIVITY_END_ACK: [serial('serial number of the sync point set or confirmed'), userData()],
  EXCEPTION_REPORT: [
    f('reason', 'u8', 'exception reason', 'any'),
    f('message', 'rest-string', 'human-readable explanation', '≤ 1024 bytes'),
  ],
  EXCEPTION_DATA: [f('reason', 'u8', 'exception reason', 'any'), userData()],
  FINISH: [userData('release user data')],
  DISCONNECT: [userData('release user data')],
  NOT_FINISHED: [userData('release user data')],
  REAUTH: [f('credentials', 'rest', "opaque credentials for the acceptor's authenticate hook")],
  REAUTH_RESULT: [
    {
      name: 'accepted',
      type: 'flag',
      meaning: '1: the session now runs under the new credentials; 0: refused, nothing changed',
      constraints: '0 or 1',
      badFlag: (v) => `must be 0 or 1 (got ${v})`,
    },
    f('message', 'rest-string', 'why, when refused', '≤ 1024 bytes'),
  ],
};

/** Whether a body ends at its last field (no `rest` field takes what is left). */
export function endsAtLastField(fields: readonly FieldSpec[]): boolean {
  const last = fields[fields.length - 1];
  return last === undefined || (last.type !== 'rest' && last.type !== 'rest-string');
}
