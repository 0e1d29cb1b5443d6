// MachineCore: the inputs, outputs, timers and heartbeats of one session, sans I/O. It stands on
// MachineHandshake (./machine-handshake.ts: connect and resume), which stands on MachineBase
// (./machine-base.ts: state, queues, acks, lifecycle helpers); SessionMachine
// (./session-machine.ts) adds the application's commands on top.
//
// Theory of operation
//   Inputs are `handle*` calls (a decoded frame, transport up/down, a timeout, a decoder error),
//   each given the current time in milliseconds, and application commands (sendData, syncMajor,
//   ...). Outputs are pulled: `pollFrame()` yields frames to put on the wire in order,
//   `pollEvent()` yields events for the application, and `nextDeadline()` is the one time at which
//   the caller must call `handleTimeout()`. The machine never reads a clock, arms a timer or
//   touches a socket, so two machines and a simulated link run the whole protocol in a test.
//
//   After every input the caller drains pollFrame() (writing the frames) and pollEvent(). When an
//   event `close-transport` or `closed` arrives, the caller drains pollFrame() once more (an
//   ABORT or RESUME_REFUSED may be waiting) and then closes the transport.
//
// Rules
//   - handle* never throws; bad input from the peer becomes an ABORT and a `closed` event.
//   - Commands throw a local SessionError before changing anything when they are not allowed
//     (one exception: a send that overflows while disconnected under `replayOverflow: 'fail'`
//     ends the session, as that policy asks, and then throws ERR_REPLAY_OVERFLOW).
//   - Session frames get their count when they first go on the wire (pollFrame), which is why
//     expedited frames can overtake normal ones still queued and both ends still count alike.
//   - Every queue is bounded: the send queue by bytes and frames (any command that starts
//     something fails with ERR_SEND_BUFFER_FULL when it is full, then `writable`; answers to the
//     peer always pass), the replay buffer by frames and bytes (frames wait in the send queue
//     until acks make room).
//
//     app --send--> [send queue] --pollFrame--> wire          peer --frame--> handleFrame
//                                   |                                          |
//                             [replay buffer] <--ACK/RESUMED-- counts --ACK--> (lazy acks)

import { SessionError } from '../errors.js';
import { AbortReason, frameWeight, isSessionFrame, ResumeRefuseReason } from '../frames.js';
import type { ConnectionFrame, Frame, ReauthFrame, ReauthResultFrame, SessionFrame } from '../frames.js';
import type { SessionEvent } from './events.js';
import { MachineHandshake } from './machine-handshake.js';

export { CONTROL_OVERHEAD, EMPTY, MAX_QUEUED_FRAMES } from './machine-base.js';
export type { MachineSnapshot, SessionStats } from './machine-base.js';

export class MachineCore extends MachineHandshake {
  // ---- outputs --------------------------------------------------------------------------

  pollEvent(): SessionEvent | undefined {
    if (this.eventHead >= this.events.length) return undefined;
    const e = this.events[this.eventHead++];
    if (this.eventHead === this.events.length) { this.events = []; this.eventHead = 0; }
    return e;
  }

  pollFrame(): Frame | undefined {
    if (!this.attached) return undefined;
    const c = this.outbox.takeControl();
    if (c) {
      this.lastSent = this.now;
      return c;
    }
    if (this.cursor < this.replay.end && (this.lifecycle === 'established' || this.released)) {
      this.lastSent = this.now;
      return this.replay.at(this.cursor++);
    }
    if (this.lifecycle !== 'established') return undefined;
    const f = this.outbox.peek();
    if (!f || !this.replay.fits(frameWeight(f))) return undefined;
    this.outbox.shift();
    this.replay.push(f);
    this.cursor++;
    if (f.type === 'DISCONNECT') this.disconnectCount = this.cursor - 1;
    if (this.wantWritable && this.outbox.bytes <= this.maxQueue() / 2) {
      this.wantWritable = false;
      this.emit({ type: 'writable' });
    }
    this.lastSent = this.now;
    return f;
  }

  // ---- inputs ---------------------------------------------------------------------------

  handleTransportUp(now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') {
      // A released machine replays only in answer to a RESUME on this transport (onResumeReleased).
      this.attached = true;
      this.outbox.clearControl();
      this.cursor = this.replay.end;
      return;
    }
    // A new transport while one is attached: the old one is presumed dead.
    if (this.attached) this.handleTransportDown(now);
    if (this.state === 'closed') return;
    this.attached = true;
    this.lastSent = this.lastRecv = now;
    const to = this.go('transport-up');
    if (to === 'connecting' && this.connect) { this.offered = this.connect; this.outbox.pushControl(this.connect); }
    if (to === 'resuming' && this.id && this.secret) this.outbox.pushControl({ type: 'RESUME', sessionId: this.id, resumeSecret: this.secret, received: this.received });
    if (to !== 'established') this.handshakeAt = now + this.tuned('handshakeTimeoutMs');
  }

  handleTransportDown(now: number, error?: SessionError): void {
    this.now = now;
    if (!this.attached) return;
    const from = this.lifecycle;
    this.detach();
    if (from === 'closed') return;
    const to = this.go('transport-down');
    if (from === 'established') this.interrupt(error);
    else if (to === 'closed') this.emit({ type: 'closed', error: error ?? new SessionError('ERR_ABORTED', 'the transport closed before the connect was answered', 'remote') });
  }

  handleTimeout(now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') return;
    try {
      this.timeouts(now);
    } catch (e) {
      this.internalError(e);
    }
  }

  /**
   * The transport delivered bytes, perhaps only part of a frame. The peer is alive: a large
   * frame arriving slowly must not look like a dead peer to the heartbeat.
   */
  handleProgress(now: number): void {
    this.now = now;
    if (this.attached) this.lastRecv = now;
  }

  /** A decoder failed on the peer's bytes: abort with a reason that says why. */
  handleProtocolError(error: SessionError, now: number): void {
    this.now = now;
    if (this.lifecycle === 'closed') return;
    const reason = error.code === 'ERR_FRAME_TOO_LARGE' ? AbortReason.frameTooLarge : AbortReason.protocolError;
    this.fail(error, reason, 'protocol-error');
  }

  handleFrame(frame: Frame, now: number): void {
    this.now = now;
    this.lastRecv = now;
    try {
      if (this.lifecycle === 'closed') {
        if (frame.type === 'RESUME') {
          if (this.released && this.role === 'acceptor') this.onResumeReleased(frame.sessionId, frame.resumeSecret, frame.received);
          else this.refuseResume(this.closeReason, 'the session has ended');
        }
        return;
      }
      if (isSessionFrame(frame)) this.receiveSession(frame);
      else this.receiveConnection(frame);
    } catch (e) {
      this.internalError(e);
    }
  }

  protected receiveSession(f: SessionFrame): void {
    if (this.lifecycle !== 'established' || !this.dialogue) return this.violation(`${f.type} before the session is established`, f.type);
    this.received++;
    this.unackedFrames++;
    this.unackedBytes += frameWeight(f);
    if (this.unackedFrames >= this.tuned('ackEveryFrames') || this.unackedBytes >= this.tuned('ackEveryBytes')) this.queueAck();
    else if (this.ackAt === Infinity) this.ackAt = this.now + this.tuned('ackDelayMs');
    if (f.type === 'REAUTH' || f.type === 'REAUTH_RESULT') return this.receiveReauth(f);
    this.dialogue.receive(f);
  }

  protected receiveReauth(f: ReauthFrame | ReauthResultFrame): void {
    const mine = f.type === 'REAUTH' ? this.role === 'acceptor' : this.role === 'initiator';
    const expectPending = f.type === 'REAUTH_RESULT';
    if (!mine || this.reauthPending !== expectPending) return this.violation(`unexpected ${f.type}`, f.type);
    this.reauthPending = f.type === 'REAUTH';
    this.emit(f.type === 'REAUTH' ? { type: 'reauth', credentials: f.credentials } : { type: 'reauth-result', accepted: f.accepted, message: f.message });
  }

  protected receiveConnection(f: ConnectionFrame): void {
    switch (f.type) {
      case 'ACK':
        if (this.lifecycle !== 'established' || f.received > this.cursor) return this.violation(`ACK for ${f.received} frames, ${this.cursor} sent`, f.type);
        return this.acknowledge(f.received);
      case 'HEARTBEAT':
        return;
      case 'ABORT':
        // Revoked credentials get their own code: the client tells its user to log in again.
        if (f.reason === AbortReason.revoked) return this.fail(new SessionError('ERR_REVOKED', f.message || 'the credentials this session was opened with were revoked', 'remote', { reason: f.reason, userData: f.userData }), null, 'recv-ABORT');
        return this.fail(new SessionError('ERR_ABORTED', f.message || 'the peer aborted the session', 'remote', { reason: f.reason, userData: f.userData }), null, 'recv-ABORT');
      case 'CONNECT':
        if (this.role !== 'acceptor' || this.lifecycle !== 'idle') return this.violation('unexpected CONNECT', f.type);
        return this.onConnect(f);
      case 'ACCEPT':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected ACCEPT', f.type);
        return this.onAccept(f);
      case 'REFUSE':
        if (this.lifecycle !== 'connecting') return this.violation('unexpected REFUSE', f.type);
        return this.fail(new SessionError('ERR_REFUSED', f.message || 'the peer refused the session', 'remote', { reason: f.reason, userData: f.userData }), null, 'recv-REFUSE');
      case 'RESUME':
        return this.onResume(f.sessionId, f.resumeSecret, f.received);
      case 'RESUMED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUMED', f.type);
        if (f.received < this.replay.base || f.received > this.replay.end) return this.violation(`RESUMED with count ${f.received} outside ${this.replay.base}..${this.replay.end}`, f.type);
        return this.resumeAt(f.received, 'recv-RESUMED');
      case 'RESUME_REFUSED':
        if (this.lifecycle !== 'resuming') return this.violation('unexpected RESUME_REFUSED', f.type);
        return this.fail(new SessionError('ERR_RESUME_REFUSED', f.message || 'the peer refused to resume', 'remote', { reason: f.reason }), null, 'recv-RESUME_REFUSED');
    }
  }

  // ---- timers and heartbeats -----------------------------------------------------------

  nextDeadline(): number | undefined {
    if (this.lifecycle === 'closed') return undefined;
    let t = Math.min(this.handshakeAt, this.ackAt);
    if (this.lifecycle === 'interrupted' || this.lifecycle === 'resuming') t = Math.min(t, this.interruptedAt + this.window());
    const hb = this.agreed?.heartbeatMs ?? 0;
    if (this.lifecycle === 'established' && this.attached && hb > 0) t = Math.min(t, this.lastRecv + 2 * hb, this.lastSent + hb);
    return t === Infinity ? undefined : t;
  }

  protected timeouts(now: number): void {
    if (now >= this.handshakeAt) {
      this.handshakeAt = Infinity;
      const error = new SessionError('ERR_HANDSHAKE_TIMEOUT', `no answer to the handshake within ${this.tuned('handshakeTimeoutMs')} ms`);
      if (this.lifecycle === 'connecting' || this.lifecycle === 'idle') return this.fail(error, AbortReason.timeout, 'handshake-timeout');
      this.closeTransport(error);
      if (this.lifecycle === 'resuming') this.go('handshake-timeout');
    }
    if ((this.lifecycle === 'interrupted' || this.lifecycle === 'resuming') && now >= this.interruptedAt + this.window()) {
      if (this.disconnectCount >= 0) return this.releasedNow();
      this.closeReason = ResumeRefuseReason.expired;
      return this.fail(new SessionError('ERR_RESUME_WINDOW_EXPIRED', `the transport stayed down longer than the ${this.window()} ms resume window`), null, 'resume-window-expired');
    }
    const hb = this.agreed?.heartbeatMs ?? 0;
    if (this.lifecycle === 'established' && this.attached && hb > 0) {
      if (now >= this.lastRecv + 2 * hb) {
        const error = new SessionError('ERR_HEARTBEAT_TIMEOUT', `nothing from the peer for ${2 * hb} ms`, 'remote');
        this.closeTransport(error);
        this.go('heartbeat-timeout');
        return this.interrupt(error);
      }
      if (now >= this.lastSent + hb) {
        this.outbox.pushControl({ type: 'HEARTBEAT' });
        this.lastSent = now;
      }
    }
    if (now >= this.ackAt) this.queueAck();
  }
}
