// Endpoint: what a server says to a connection before it carries a session. Pure: no I/O, no
// clock (time comes in as `now`), no timers (nextDeadline() says when to call handleTimeout).
//
// Theory of operation
//   One PendingConnection per new transport (or multiplexed channel). The server feeds it the
//   bytes that arrive and, at nextDeadline(), the time; it then polls one verdict:
//
//     first byte --- muxPreface (when given) ----------------> multiplex (a mux takes the bytes)
//         |      \-- neither CONNECT nor RESUME ------------> turn-away: ABORT protocol-error
//         v
//     FrameDecoder(maxFrameSize) -- ProtocolError ----------> turn-away: ABORT frame-too-large
//         |                                                    (ERR_FRAME_TOO_LARGE) or protocol-error
//         |-- not whole yet: no verdict, wait for more bytes
//         v
//     CONNECT ---> open        RESUME ---> resume (session id as hex)
//
//     no whole first frame by handshakeTimeoutMs ------------> turn-away: ABORT timeout
//
//   The other turn-aways a server decides from its own state (shutting down, full, a per-address
//   cap, a refused resume) are built by the `turnAway` functions below, so that every error a
//   connection is turned away with, and the frame it is told, are written in one place.
//
// Rules
//   - One verdict per connection; input after it is ignored, and nextDeadline() is undefined.
//   - The bytes read so far come with open, resume and multiplex (the session's driver, or the
//     mux, reads them again from the start). They are bounded: the decoder fails a frame past
//     maxFrameSize before its body is awaited, so at most one frame and the chunk that ended it.
//   - Bad bytes never throw out of handleBytes: they become a turn-away with a typed error.

import { toHex } from './bytes.js';
import { FrameDecoder } from './codec/frame-decoder.js';
import { ProtocolError, SessionError } from './errors.js';
import { AbortReason, EMPTY, FrameType, RefuseReason, ResumeRefuseReason } from './frames.js';
import type {
  AbortReasonValue,
  ConnectFrame,
  Frame,
  RefuseReasonValue,
  ResumeFrame,
  ResumeRefuseReasonValue,
} from './frames.js';

export interface PendingConnectionOptions {
  /** The largest first frame accepted (the machine's maxFrameSize). */
  maxFrameSize: number;
  /** Time allowed for the whole first frame, from the connection's arrival. */
  handshakeTimeoutMs: number;
  /** A first byte that means "a multiplexed connection follows" (src/mux); none when omitted. */
  muxPreface?: number;
}

/** A connection turned away: the error to report, and the frame the peer is told (if any). */
export interface TurnAway {
  readonly kind: 'turn-away';
  readonly error: SessionError;
  readonly frame?: Frame;
  /** The session the refused RESUME named, as hex. */
  readonly id?: string;
}

export type FirstFrameVerdict =
  | { readonly kind: 'open'; readonly frame: ConnectFrame; readonly chunks: Uint8Array[] }
  | { readonly kind: 'resume'; readonly frame: ResumeFrame; readonly id: string; readonly chunks: Uint8Array[] }
  | { readonly kind: 'multiplex'; readonly chunks: Uint8Array[] }
  | TurnAway;

export class PendingConnection {
  private readonly decoder: FrameDecoder;
  private readonly chunks: Uint8Array[] = [];
  private readonly deadline: number;
  private verdict: FirstFrameVerdict | undefined;
  private decided = false;

  constructor(
    private readonly options: PendingConnectionOptions,
    now: number,
  ) {
    this.decoder = new FrameDecoder({ maxFrameSize: options.maxFrameSize });
    this.deadline = now + options.handshakeTimeoutMs;
  }

  handleBytes(chunk: Uint8Array, _now: number): void {
    if (this.decided || chunk.length === 0) return;
    if (this.chunks.length === 0) {
      const first = chunk[0] as number;
      if (this.options.muxPreface !== undefined && first === this.options.muxPreface)
        return this.decide({ kind: 'multiplex', chunks: [chunk] });
      // Only CONNECT or RESUME may open a stream: say no to anything else at its first byte.
      if (first !== FrameType.CONNECT && first !== FrameType.RESUME) {
        return this.decide(
          abort(
            new SessionError(
              'ERR_PROTOCOL_VIOLATION',
              `first byte 0x${first.toString(16)} opens neither CONNECT nor RESUME`,
              'remote',
            ),
            AbortReason.protocolError,
            'expected CONNECT or RESUME',
          ),
        );
      }
    }
    this.chunks.push(chunk);
    this.decoder.push(chunk);
    let frame: Frame | undefined;
    try {
      frame = this.decoder.next();
    } catch (e) {
      const error = e instanceof ProtocolError ? e : new ProtocolError('ERR_MALFORMED_FRAME', String(e));
      return this.decide(
        abort(
          error,
          error.code === 'ERR_FRAME_TOO_LARGE' ? AbortReason.frameTooLarge : AbortReason.protocolError,
          error.message,
        ),
      );
    }
    if (frame === undefined) return;
    if (frame.type === 'CONNECT') return this.decide({ kind: 'open', frame, chunks: this.chunks });
    if (frame.type === 'RESUME')
      return this.decide({ kind: 'resume', frame, id: toHex(frame.sessionId), chunks: this.chunks });
    // Unreachable while the first byte is checked above; kept so a decoder change cannot open a session.
    this.decide(
      abort(
        new SessionError('ERR_PROTOCOL_VIOLATION', `first frame was ${frame.type}`, 'remote'),
        AbortReason.protocolError,
        `expected CONNECT or RESUME, got ${frame.type}`,
      ),
    );
  }

  handleTimeout(now: number): void {
    if (this.decided || now < this.deadline) return;
    const ms = this.options.handshakeTimeoutMs;
    this.decide(
      abort(
        new SessionError('ERR_HANDSHAKE_TIMEOUT', `no first frame within ${ms} ms (handshakeTimeoutMs)`, 'remote'),
        AbortReason.timeout,
        'handshake timeout',
      ),
    );
  }

  /** When handleTimeout must be called; undefined once decided. */
  nextDeadline(): number | undefined {
    return this.decided ? undefined : this.deadline;
  }

  /** The verdict, once: undefined while more bytes are needed, and after it was taken. */
  poll(): FirstFrameVerdict | undefined {
    const v = this.verdict;
    this.verdict = undefined;
    return v;
  }

  /** Bytes held until the verdict (the first frame so far). */
  get bufferedBytes(): number {
    return this.decoder.bufferedBytes;
  }

  private decide(verdict: FirstFrameVerdict): void {
    this.decided = true;
    this.verdict = verdict;
    if (verdict.kind === 'turn-away') this.chunks.length = 0;
  }
}

function abort(error: SessionError, reason: AbortReasonValue, message: string): TurnAway {
  return { kind: 'turn-away', error, frame: { type: 'ABORT', reason, message, userData: EMPTY } };
}

function refuse(error: SessionError, reason: RefuseReasonValue, message: string): TurnAway {
  return { kind: 'turn-away', error, frame: { type: 'REFUSE', reason, message, userData: EMPTY } };
}

function resumeRefused(id: string, reason: ResumeRefuseReasonValue, message: string, error: SessionError): TurnAway {
  return { kind: 'turn-away', error, frame: { type: 'RESUME_REFUSED', reason, message }, id };
}

/** The turn-aways a server decides from its own state, each with its error and frame. */
export const turnAway = {
  /** The server is stopping: REFUSE shutting-down. */
  shuttingDown(): TurnAway {
    return refuse(
      new SessionError('ERR_REFUSED', 'the server is shutting down'),
      RefuseReason.shuttingDown,
      'server shutting down',
    );
  },
  /** Too many connections waiting for their first frame: closed without a word. */
  pendingHandshakes(): TurnAway {
    return {
      kind: 'turn-away',
      error: new SessionError('ERR_REFUSED', 'too many pending handshakes (maxPendingHandshakes)', 'local', {
        limit: 'maxPendingHandshakes',
      }),
    };
  },
  /** A per-address cap (`limit` names the option): before a CONNECT closed without a word, after one REFUSE congested. */
  overAddressLimit(limit: string, value: number, remoteAddress: string, connected: boolean): TurnAway {
    const error = new SessionError(
      'ERR_REFUSED',
      `too many from ${remoteAddress}: ${limit} (${value}) reached`,
      'local',
      { limit },
    );
    return connected ? refuse(error, RefuseReason.congested, error.message) : { kind: 'turn-away', error };
  },
  /** maxSessions live sessions: REFUSE congested. */
  full(maxSessions: number): TurnAway {
    return refuse(
      new SessionError('ERR_REFUSED', `maxSessions (${maxSessions}) reached`, 'local', { limit: 'maxSessions' }),
      RefuseReason.congested,
      `server full (maxSessions ${maxSessions})`,
    );
  },
  /** A RESUME whose secret does not match. */
  wrongSecret(id: string): TurnAway {
    return resumeRefused(
      id,
      ResumeRefuseReason.wrongSecret,
      'wrong resume secret',
      new SessionError('ERR_RESUME_REFUSED', 'wrong resume secret', 'remote', {
        reason: ResumeRefuseReason.wrongSecret,
      }),
    );
  },
  /** A RESUME for a session that is unknown or has ended (`why`: the code and message that ended it). */
  ended(id: string, reason: ResumeRefuseReasonValue, why?: string): TurnAway {
    const said =
      reason === ResumeRefuseReason.unknown
        ? 'no such session'
        : why === undefined
          ? 'the session has ended'
          : `the server ended the session: ${why}`;
    return resumeRefused(
      id,
      reason,
      said,
      new SessionError('ERR_RESUME_REFUSED', said, 'remote', { reason, ...(why === undefined ? {} : { why }) }),
    );
  },
  /** A RESUME the session store could not answer. */
  storeUnavailable(id: string, error: SessionError): TurnAway {
    return resumeRefused(id, ResumeRefuseReason.unknown, 'session store unavailable', error);
  },
};
