// Handshake: what one session knows about its own identity and agreement. It owns the CONNECT an
// initiator offers (credentials included, until the handshake is done), the CONNECT an acceptor
// was offered, the session ID and resume secret, the agreed parameters, and the reason a late
// RESUME of an ended session is refused with.
//
//   connect:  initiator CONNECT --> acceptor decide() --> connect-request --> ACCEPT | REFUSE
//   resume:   initiator RESUME  --> acceptor checks (session, state, secret, staleness, count) --> RESUMED | RESUME_REFUSED
//
// Rules
//   - The acceptor runs `decide` (./negotiation.ts) when CONNECT arrives (to refuse at once or to
//     report the proposal) and again for the ACCEPT, so both come from the same inputs.
//   - Once established, the handshake keeps no credentials (the CONNECTs are dropped).
//   - Every secret is compared in constant time.
//   - This part decides and builds frames; the machine sends them and moves the lifecycle.

import { constantTimeEqual } from '../bytes.js';
import { SessionError } from '../errors.js';
import { RESUME_SECRET_LENGTH, ResumeRefuseReason, SESSION_ID_LENGTH } from '../frames.js';
import type { AcceptFrame, ConnectFrame, ResumeFrame, ResumeRefuseReasonValue } from '../frames.js';
import { agreedParameters } from './agreed.js';
import type { Agreed } from './agreed.js';
import { buildConnect, checkAccept, decide } from './negotiation.js';
import type { Decision } from './negotiation.js';
import type { MachineOptions, Negotiated } from './options.js';
import type { Role } from './transitions.js';

/** The parameters both sides agreed on, as an ACCEPT carries them (kept in a snapshot). */
export type Agreement = Pick<
  AcceptFrame,
  | 'version'
  | 'units'
  | 'mode'
  | 'simplexSender'
  | 'maxFrameSize'
  | 'heartbeatMs'
  | 'resumeWindowMs'
  | 'initialSerial'
  | 'tokenSetting'
>;

/** A session's ID and resume secret, side by side (see Handshake.identity). */
export interface Identity {
  sessionId: Uint8Array;
  resumeSecret: Uint8Array;
}

/**
 * The ID followed by the secret in one 32-byte array: with `mayView`, a view of the bytes where
 * they already lie side by side (a server hands out both from one random slab); else a copy (the
 * ID and secret of a received ACCEPT, which must not keep the frame's buffer).
 */
function joined(id: Uint8Array, secret: Uint8Array, mayView: boolean): Uint8Array {
  if (mayView && secret.buffer === id.buffer && secret.byteOffset === id.byteOffset + SESSION_ID_LENGTH)
    return new Uint8Array(id.buffer, id.byteOffset, SESSION_ID_LENGTH + RESUME_SECRET_LENGTH);
  const both = new Uint8Array(SESSION_ID_LENGTH + RESUME_SECRET_LENGTH);
  both.set(id);
  both.set(secret, SESSION_ID_LENGTH);
  return both;
}

// The machine's options and role are the machine's (passed in where needed), not fields here:
// an idle session keeps this part small (issue 14).
export class Handshake {
  /** Initiator: the CONNECT to send on each transport until the session is established. */
  private connect?: ConnectFrame;
  /** The CONNECT on the table: sent (initiator) or received (acceptor). */
  private offered?: ConnectFrame;
  /**
   * The session ID and the resume secret in one 32-byte view (one typed array of 96 bytes of heap
   * instead of two, issue 14); `sessionId` and `resumeSecret` are views of it made when asked.
   */
  private identity?: Uint8Array;
  // Shared with every session that agreed the same (./agreed.ts): frozen, never written.
  private agreementValue?: Readonly<Agreement>;
  private negotiatedValue?: Readonly<Negotiated>;
  /** Why a RESUME of this session is refused once it has ended. */
  closeReason: ResumeRefuseReasonValue = ResumeRefuseReason.closed;

  /** `identity`: an acceptor's ID and secret when not in `opts` (a server's, without an options object per session). */
  constructor(opts: MachineOptions, identity?: Identity) {
    if (opts.role === 'initiator') this.connect = buildConnect(opts);
    else {
      const { sessionId, resumeSecret } = identity ?? opts;
      if (sessionId?.length !== SESSION_ID_LENGTH || resumeSecret?.length !== RESUME_SECRET_LENGTH) {
        throw new SessionError(
          'ERR_INVALID_ARGUMENT',
          `an acceptor needs a ${SESSION_ID_LENGTH}-byte sessionId and a ${RESUME_SECRET_LENGTH}-byte resumeSecret`,
        );
      }
      this.identity = joined(sessionId, resumeSecret, true);
    }
  }

  get sessionId(): Uint8Array | undefined {
    return this.identity?.subarray(0, SESSION_ID_LENGTH);
  }
  get resumeSecret(): Uint8Array | undefined {
    return this.identity?.subarray(SESSION_ID_LENGTH);
  }
  get negotiated(): Negotiated | undefined {
    return this.negotiatedValue;
  }
  get agreement(): Agreement | undefined {
    return this.agreementValue;
  }

  // ---- connect --------------------------------------------------------------------------

  /** Initiator, on a new transport: the CONNECT to send (now on the table), if not yet established. */
  offer(): ConnectFrame | undefined {
    if (this.connect) this.offered = this.connect;
    return this.connect;
  }

  /** Acceptor: a CONNECT arrived; the decision (refuse at once, or the proposal to report). */
  receiveConnect(c: ConnectFrame, opts: MachineOptions): Decision {
    this.offered = c;
    return decide(c, opts);
  }

  /** Acceptor: whether a CONNECT is on the table to answer. */
  get answerable(): boolean {
    return !!this.offered && !!this.identity;
  }

  /** Acceptor: the ACCEPT for the CONNECT on the table (see `answerable`), without user data. */
  acceptFrame(opts: MachineOptions): Omit<AcceptFrame, 'userData'> {
    const c = this.offered;
    const id = this.sessionId;
    const secret = this.resumeSecret;
    if (!c || !id || !secret) throw new Error('no CONNECT to accept');
    const d = decide(c, opts);
    if (!d.ok) throw new SessionError('ERR_NEGOTIATION_FAILED', d.message);
    return { ...d.accept, sessionId: id, resumeSecret: secret };
  }

  /** Initiator: what is wrong with the peer's ACCEPT, or null when it is within our proposal. */
  checkAnswer(a: AcceptFrame): string | null {
    return this.offered ? checkAccept(a, this.offered) : 'no CONNECT was sent';
  }

  /**
   * The session exists under `a` (sent, received or restored): keep its identity and agreement,
   * drop the credentials. Returns what was agreed (shared between sessions: read, never write).
   */
  establish(a: AcceptFrame, role: Role): Agreed {
    this.offered = this.connect = undefined;
    const known = this.identity;
    // An acceptor's own ACCEPT carries views of its identity: nothing new to keep.
    if (!known || !sameBytes(known, a.sessionId, a.resumeSecret))
      this.identity = joined(a.sessionId, a.resumeSecret, false);
    const agreed = agreedParameters(a, role);
    this.agreementValue = agreed.agreement;
    this.negotiatedValue = agreed.negotiated;
    return agreed;
  }

  // ---- resume ---------------------------------------------------------------------------

  /** Initiator, on a new transport after an interruption: the RESUME to send. */
  resumeRequest(received: number, acked: number): ResumeFrame | undefined {
    const id = this.sessionId;
    const secret = this.resumeSecret;
    if (!id || !secret) return undefined;
    return { type: 'RESUME', sessionId: id, resumeSecret: secret, received, acked };
  }

  /** Acceptor (`role`): whether `sessionId` names this session (an acceptor that has its identity). */
  owns(sessionId: Uint8Array, role: Role): boolean {
    const id = this.sessionId;
    return role === 'acceptor' && !!id && constantTimeEqual(sessionId, id);
  }

  /** Whether `secret` is this session's resume secret. */
  secretMatches(secret: Uint8Array): boolean {
    const mine = this.resumeSecret;
    return !!mine && constantTimeEqual(secret, mine);
  }
}

/** Whether `both` (ID then secret) holds exactly `id` and `secret` (same bytes, same place). */
function sameBytes(both: Uint8Array, id: Uint8Array, secret: Uint8Array): boolean {
  return (
    id.buffer === both.buffer &&
    id.byteOffset === both.byteOffset &&
    secret.buffer === both.buffer &&
    secret.byteOffset === both.byteOffset + SESSION_ID_LENGTH
  );
}
