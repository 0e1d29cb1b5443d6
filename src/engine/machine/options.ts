// Machine options, their defaults, and the parameters a connect settles on.

import { DEFAULT_FRAME_SIZE } from '../frames.js';
import type { DialogueModeName, TokenName, UnitName } from '../frames.js';

/** Who holds a token at the start: a side, or (initiator's proposal only) the acceptor decides. */
export type InitialTokenHolder = 'initiator' | 'acceptor' | 'acceptor-chooses';

export interface MachineOptions {
  role: 'initiator' | 'acceptor';
  /**
   * Functional units this side proposes (initiator) or supports (acceptor). Defaults: an
   * acceptor supports all; an initiator proposes expedited, typedData, minorSync, majorSync and
   * resynchronize (DEFAULT_PROPOSED_UNITS). The half-duplex and duplex units follow `modes`.
   */
  units?: readonly UnitName[];
  /**
   * Dialogue modes this side proposes (initiator: a set) or accepts (acceptor: in order of
   * preference; the first one the initiator offered wins). Default: all three.
   */
  modes?: readonly DialogueModeName[];
  /** In simplex, which side sends normal data. Initiator proposes; default `initiator`. */
  simplexSender?: 'initiator' | 'acceptor';
  /** Initiator: proposed initial token positions. Default: every token with the initiator. */
  initialTokens?: Partial<Record<TokenName, InitialTokenHolder>>;
  /** Acceptor: where tokens go when the initiator said `acceptor-chooses`. Default `acceptor`. */
  chosenTokens?: Partial<Record<TokenName, 'initiator' | 'acceptor'>>;
  /** Initial sync serial number (X.225 ISN). Default 1. */
  initialSerial?: number;
  /** Largest frame body either side may send; both propose, the smaller wins. Default 256 KiB. */
  maxFrameSize?: number;
  /**
   * Heartbeat interval each side proposes; the smaller non-zero proposal wins, so heartbeats
   * stop only when both sides say 0. Default 15 s.
   */
  heartbeatMs?: number;
  /**
   * Acceptor: the shortest heartbeat interval an initiator may make it keep (a 1 ms proposal
   * would have this side send a frame every millisecond). A proposal below it gets this floor
   * (or this side's own heartbeatMs when that is lower). Default 1 s.
   */
  minHeartbeatMs?: number;
  /** How long a cut session may wait for resume. The acceptor caps it. Default 2 min. */
  resumeWindowMs?: number;
  /** Handshake (connect or resume) must finish within this. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Credentials the initiator presents (opaque bytes for the acceptor's authenticate hook). */
  credentials?: Uint8Array;
  /** User data carried by CONNECT (initiator). */
  userData?: Uint8Array;
  /** Acceptor: the session ID and resume secret to hand out (the runtime draws them at random). */
  sessionId?: Uint8Array;
  resumeSecret?: Uint8Array;
  /** Bounds of the replay buffer (frames sent, not yet acknowledged). Defaults 16384 and 8 MiB. */
  maxReplayFrames?: number;
  maxReplayBytes?: number;
  /** Bound of the queue of frames not yet on the wire (payload bytes). Default 4 MiB. */
  maxSendQueueBytes?: number;
  /**
   * What happens when the send queue (maxSendQueueBytes) fills while the transport is down:
   * `block` (default) refuses the send with ERR_SEND_BUFFER_FULL until the resume drains it;
   * `fail` ends the session (ERR_REPLAY_OVERFLOW) and a later resume is refused as overflowed.
   */
  replayOverflow?: 'block' | 'fail';
  /** Send a cumulative ACK after this many frames, bytes, or milliseconds, whichever first. */
  ackEveryFrames?: number;
  ackEveryBytes?: number;
  ackDelayMs?: number;
}

export const DEFAULTS = {
  initialSerial: 1,
  maxFrameSize: DEFAULT_FRAME_SIZE,
  heartbeatMs: 15_000,
  minHeartbeatMs: 1000,
  resumeWindowMs: 120_000,
  handshakeTimeoutMs: 10_000,
  maxReplayFrames: 16_384,
  maxReplayBytes: 8 * 1024 * 1024,
  maxSendQueueBytes: 4 * 1024 * 1024,
  ackEveryFrames: 64,
  ackEveryBytes: 1024 * 1024,
  ackDelayMs: 20,
} as const;

/** What both sides agreed on at connect. */
export interface Negotiated {
  version: number;
  units: ReadonlySet<UnitName>;
  mode: DialogueModeName;
  simplexSender: 'initiator' | 'acceptor';
  maxFrameSize: number;
  heartbeatMs: number;
  resumeWindowMs: number;
  initialSerial: number;
  /** Tokens that exist under the selected units. */
  tokens: readonly TokenName[];
}

/** Options with a numeric default in DEFAULTS. */
export type DefaultedOption = keyof typeof DEFAULTS & keyof MachineOptions;

/** An option as given, or its default. */
export function optionOrDefault(opts: MachineOptions, key: DefaultedOption): number {
  return opts[key] ?? DEFAULTS[key];
}
