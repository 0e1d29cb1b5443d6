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

export class Handshake {
  readonly role: Role;
  /** Initiator: the CONNECT to send on each transport until the session is established. */
  private connect?: ConnectFrame;
  /** The CONNECT on the table: sent (initiator) or received (acceptor). */
  private offered?: ConnectFrame;
  private id?: Uint8Array;
  private secret?: Uint8Array;
  // Shared with every session that agreed the same (./agreed.ts): frozen, never written.
  private agreementValue?: Readonly<Agreement>;
  private negotiatedValue?: Readonly<Negotiated>;
  /** Why a RESUME of this session is refused once it has ended. */
  closeReason: ResumeRefuseReasonValue = ResumeRefuseReason.closed;

  constructor(private readonly opts: MachineOptions) {
    this.role = opts.role;
    if (this.role === 'initiator') this.connect = buildConnect(opts);
    else {
      const { sessionId, resumeSecret } = opts;
      if (sessionId?.length !== SESSION_ID_LENGTH || resumeSecret?.length !== RESUME_SECRET_LENGTH) {
        throw new SessionError(
          'ERR_INVALID_ARGUMENT',
          `an acceptor needs a ${SESSION_ID_LENGTH}-byte sessionId and a ${RESUME_SECRET_LENGTH}-byte resumeSecret`,
        );
      }
      this.id = sessionId;
      this.secret = resumeSecret;
    }
  }

  get sessionId(): Uint8Array | undefined {
    return this.id;
  }
  get resumeSecret(): Uint8Array | undefined {
    return this.secret;
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
  receiveConnect(c: ConnectFrame): Decision {
    this.offered = c;
    return decide(c, this.opts);
  }

  /** Acceptor: whether a CONNECT is on the table to answer. */
  get answerable(): boolean {
    return !!this.offered && !!this.id && !!this.secret;
  }

  /** Acceptor: the ACCEPT for the CONNECT on the table (see `answerable`), without user data. */
  acceptFrame(): Omit<AcceptFrame, 'userData'> {
    const c = this.offered;
    if (!c || !this.id || !this.secret) throw new Error('no CONNECT to accept');
    const d = decide(c, this.opts);
    if (!d.ok) throw new SessionError('ERR_NEGOTIATION_FAILED', d.message);
    return { ...d.accept, sessionId: this.id, resumeSecret: this.secret };
  }

  /** Initiator: what is wrong with the peer's ACCEPT, or null when it is within our proposal. */
  checkAnswer(a: AcceptFrame): string | null {
    return this.offered ? checkAccept(a, this.offered) : 'no CONNECT was sent';
  }

  /**
   * The session exists under `a` (sent, received or restored): keep its identity and agreement,
   * drop the credentials. Returns what was agreed (shared between sessions: read, never write).
   */
  establish(a: AcceptFrame): Agreed {
    this.offered = this.connect = undefined;
    this.id = a.sessionId;
    this.secret = a.resumeSecret;
    const agreed = agreedParameters(a, this.role);
    this.agreementValue = agreed.agreement;
    this.negotiatedValue = agreed.negotiated;
    return agreed;
  }

  // ---- resume ---------------------------------------------------------------------------

  /** Initiator, on a new transport after an interruption: the RESUME to send. */
  resumeRequest(received: number, acked: number): ResumeFrame | undefined {
    if (!this.id || !this.secret) return undefined;
    return { type: 'RESUME', sessionId: this.id, resumeSecret: this.secret, received, acked };
  }

  /** Acceptor: whether `sessionId` names this session (an acceptor that has its identity). */
  owns(sessionId: Uint8Array): boolean {
    return this.role === 'acceptor' && !!this.id && !!this.secret && constantTimeEqual(sessionId, this.id);
  }

  /** Whether `secret` is this session's resume secret. */
  secretMatches(secret: Uint8Array): boolean {
    return !!this.secret && constantTimeEqual(secret, this.secret);
  }
}
