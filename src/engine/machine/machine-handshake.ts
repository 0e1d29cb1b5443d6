// The handshakes of the session machine (see ./machine-core.ts for the theory of operation):
// connect (CONNECT, then ACCEPT or REFUSE, the acceptor's application deciding between them) and
// resume (RESUME, then RESUMED or RESUME_REFUSED, after a transport was lost).
//
// Rules
//   - The acceptor runs `decide` (./negotiation.ts) when CONNECT arrives (to refuse at once or to
//     report the proposal) and again in `accept`, to build the ACCEPT from the same inputs.
//   - Once established, the handshake keeps no credentials (`offered` and `connect` are dropped).
//   - A RESUME is checked in a fixed order (session, state, secret, count) and every secret is
//     compared in constant time; a refusal asks the caller to close that transport only.
//   - Resuming rewinds the send cursor to what the peer says it received: the replay buffer
//     sends the rest again, so nothing is lost or duplicated.

import { clampUtf8, constantTimeEqual } from '../bytes.js';
import { SessionError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { AbortReason, MAX_MESSAGE_BYTES, RefuseReason, ResumeRefuseReason } from '../frames.js';
import type { AcceptFrame, ConnectFrame, RefuseReasonValue, ResumeRefuseReasonValue } from '../frames.js';
import { Dialogue } from './dialogue.js';
import { EMPTY, MachineBase } from './machine-base.js';
import { checkAccept, decide, describe } from './negotiation.js';
import type { LifecycleTrigger } from './transitions.js';

export class MachineHandshake extends MachineBase {
  // ---- connect --------------------------------------------------------------------------

  protected onConnect(c: ConnectFrame): void {
    const d = decide(c, this.opts);
    this.offered = c;
    this.handshakeAt = Infinity;
    this.go('recv-CONNECT');
    if (!d.ok) return this.refuseWith(d.reason, d.message, EMPTY, 'ERR_NEGOTIATION_FAILED');
    this.emit({ type: 'connect-request', proposal: describe(d.accept), credentials: c.credentials, userData: c.userData });
  }

  /** Acceptor: accept the pending connect request. */
  accept(options: { userData?: Uint8Array } = {}): void {
    const c = this.offered;
    if (this.lifecycle !== 'accepting' || !c || !this.id || !this.secret) throw this.stateError('accept');
    const d = decide(c, this.opts);
    if (!d.ok) throw new SessionError('ERR_NEGOTIATION_FAILED', d.message);
    const a: AcceptFrame = { ...d.accept, sessionId: this.id, resumeSecret: this.secret, userData: this.fitUserData(options.userData) };
    if (this.attached) this.outbox.pushControl(a);
    this.establish(a, 'accept');
  }

  /** Acceptor: refuse the pending connect request. */
  refuse(reason: RefuseReasonValue = RefuseReason.rejected, message = 'refused', userData: Uint8Array = EMPTY): void {
    if (this.lifecycle !== 'accepting') throw this.stateError('refuse');
    this.refuseWith(reason, message, userData, 'ERR_REFUSED');
  }

  protected refuseWith(reason: RefuseReasonValue, message: string, userData: Uint8Array, code: ErrorCode): void {
    if (this.attached) this.outbox.pushControl({ type: 'REFUSE', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES), userData });
    this.go('refuse');
    this.emit({ type: 'closed', error: new SessionError(code, message, 'local', { reason }) });
  }

  protected onAccept(a: AcceptFrame): void {
    const problem = this.offered ? checkAccept(a, this.offered) : 'no CONNECT was sent';
    if (problem) return this.fail(new SessionError('ERR_NEGOTIATION_FAILED', `the acceptor answered outside the proposal: ${problem}`, 'remote'), AbortReason.protocolError, 'protocol-error');
    this.id = a.sessionId;
    this.secret = a.resumeSecret;
    this.establish(a, 'recv-ACCEPT');
  }

  protected establish(a: AcceptFrame, trigger: LifecycleTrigger, restoring = false): void {
    this.offered = this.connect = undefined; // the handshake is done: keep no credentials around
    this.agreement = { version: a.version, units: a.units, mode: a.mode, simplexSender: a.simplexSender, maxFrameSize: a.maxFrameSize, heartbeatMs: a.heartbeatMs, resumeWindowMs: a.resumeWindowMs, initialSerial: a.initialSerial, tokenSetting: a.tokenSetting };
    const agreed = describe(a);
    this.agreed = agreed;
    this.dialogue = new Dialogue(this.host, {
      units: a.units,
      mode: agreed.mode,
      isInitiator: this.role === 'initiator',
      simplexSenderIsMe: a.simplexSender === this.role,
      initialSerial: a.initialSerial,
      tokenSetting: a.tokenSetting,
    });
    this.handshakeAt = Infinity;
    if (restoring) return;
    this.go(trigger);
    this.emit({ type: 'established', negotiated: agreed, sessionId: a.sessionId, userData: a.userData });
  }

  // ---- resume ---------------------------------------------------------------------------

  /**
   * Acceptor: whether a RESUME may take over this session, checked before its transport is
   * attached (so a wrong secret never disturbs the live connection). Null when it may.
   */
  checkResume(sessionId: Uint8Array, secret: Uint8Array): ResumeRefuseReasonValue | null {
    if (this.role !== 'acceptor' || !this.id || !this.secret || !constantTimeEqual(sessionId, this.id)) return ResumeRefuseReason.unknown;
    if (!constantTimeEqual(secret, this.secret)) return ResumeRefuseReason.wrongSecret;
    if (this.lifecycle === 'closed') return this.closeReason;
    return null;
  }

  protected onResume(sessionId: Uint8Array, secret: Uint8Array, received: number): void {
    if (this.role !== 'acceptor') return this.violation('RESUME sent to an initiator', 'RESUME');
    if (!this.id || !this.secret || !this.dialogue || !constantTimeEqual(sessionId, this.id)) return this.refuseResume(ResumeRefuseReason.unknown, 'no such session');
    if (this.lifecycle !== 'interrupted') return this.violation('RESUME on a transport that already carries the session', 'RESUME');
    if (!constantTimeEqual(secret, this.secret)) return this.refuseResume(ResumeRefuseReason.wrongSecret, 'wrong resume secret');
    if (received < this.replay.base || received > this.replay.end) return this.refuseResume(ResumeRefuseReason.invalid, `count ${received} outside ${this.replay.base}..${this.replay.end}`);
    this.outbox.pushControl({ type: 'RESUMED', received: this.received });
    this.resumeAt(received, 'recv-RESUME');
  }

  /**
   * A RESUME after our orderly release: the peer lost the end of it in a cut (our DISCONNECT,
   * or its own acknowledgement of the DISCONNECT it sent). Answer as a live session would: our
   * count in RESUMED (the peer's DISCONNECT among it, which completes the peer's release) and,
   * from the peer's count on, what it lacks of ours (at most our DISCONNECT, which completes
   * its release when it arrives). The machine stays closed; its caller closes this transport
   * once the frames are out, as after any answer of a closed machine.
   */
  protected onResumeReleased(sessionId: Uint8Array, secret: Uint8Array, received: number): void {
    if (!this.id || !this.secret || !constantTimeEqual(sessionId, this.id)) return this.refuseResume(ResumeRefuseReason.unknown, 'no such session');
    if (!constantTimeEqual(secret, this.secret)) return this.refuseResume(ResumeRefuseReason.wrongSecret, 'wrong resume secret');
    if (received < this.replay.base || received > this.replay.end) return this.refuseResume(ResumeRefuseReason.invalid, `count ${received} outside ${this.replay.base}..${this.replay.end}`);
    this.replay.acknowledge(received);
    this.outbox.pushControl({ type: 'RESUMED', received: this.received });
    this.cursor = received;
  }

  protected refuseResume(reason: ResumeRefuseReasonValue, message: string): void {
    this.outbox.pushControl({ type: 'RESUME_REFUSED', reason, message: clampUtf8(message, MAX_MESSAGE_BYTES) });
    this.emit({ type: 'close-transport', error: new SessionError('ERR_RESUME_REFUSED', message, 'local', { reason }) });
  }

  protected resumeAt(peerReceived: number, trigger: LifecycleTrigger): void {
    this.acknowledge(peerReceived);
    if (this.lifecycle === 'closed') return;
    this.cursor = peerReceived;
    this.handshakeAt = Infinity;
    this.go(trigger);
    this.emit({ type: 'resumed', replayed: this.replay.end - peerReceived });
  }
}
