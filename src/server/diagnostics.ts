// Diagnostics: what the server and the stores publish on `node:diagnostics_channel`, for
// metrics, logs and tracing that the application wires up itself (serve's /metrics is one such
// subscriber, src/serve/metrics.ts). The channel names are public API (docs/operations.md).
//
// Rules
//   - Nothing is built when nobody listens: every `publish*` first checks `hasSubscribers`, and
//     only then makes its message; a store call reads the clock only when someone listens at
//     its start. With no subscriber a publish point costs one property read.
//   - A message carries the objects it is about (the Server, the Session) so a subscriber in a
//     process with several servers can tell them apart, and plain fields (codes, reasons,
//     kinds) for labels. Subscribers must not throw and must not keep the session alive.
//   - This file is a leaf: the server calls it; it imports nothing of the server's but types.
//
//   colloquy:session:opened          a session was accepted (or restored from the store)
//   colloquy:session:interrupted     its transport dropped; it waits for a resume
//   colloquy:session:resumed         it resumed on a new transport
//   colloquy:session:resume-refused  a RESUME was turned away, with the reason
//   colloquy:session:closed          it ended; `code` is null for an orderly release
//   colloquy:handshake:refused       a transport was turned away before carrying a session
//   colloquy:store:call              one store call finished, with its duration (published by the
//                                    stores, src/store/diagnostics.ts)

import { channel } from 'node:diagnostics_channel';
import type { Session } from '../driver/session.js';
import { ResumeRefuseReason } from '../engine/frames.js';
import type { ResumeRefuseReasonValue } from '../engine/frames.js';
import { STORE_CALL_CHANNEL } from '../store/diagnostics.js';

export const CHANNELS = {
  sessionOpened: 'colloquy:session:opened',
  sessionInterrupted: 'colloquy:session:interrupted',
  sessionResumed: 'colloquy:session:resumed',
  sessionResumeRefused: 'colloquy:session:resume-refused',
  sessionClosed: 'colloquy:session:closed',
  handshakeRefused: 'colloquy:handshake:refused',
  storeCall: STORE_CALL_CHANNEL,
} as const;

/** The publisher of a session message: the Server (an opaque object here, to keep this file a leaf). */
export type DiagnosticsSource = object;

export interface SessionOpenedMessage {
  server: DiagnosticsSource;
  session: Session;
  id: string;
  transport: string | null;
  restored: boolean;
}
export interface SessionInterruptedMessage {
  server: DiagnosticsSource;
  session: Session;
  id: string;
  code: string | null;
}
export interface SessionResumedMessage {
  server: DiagnosticsSource;
  session: Session;
  id: string;
  transport: string | null;
  replayed: number;
}
export interface SessionResumeRefusedMessage {
  server: DiagnosticsSource;
  id: string;
  reason: ResumeRefusalName;
  transport: string;
  remoteAddress: string;
}
export interface SessionClosedMessage {
  server: DiagnosticsSource;
  session: Session;
  id: string;
  code: string | null;
}
export interface HandshakeRefusedMessage {
  server: DiagnosticsSource;
  code: string;
  message: string;
  transport: string;
  remoteAddress: string;
}
export type { StoreCallMessage } from '../store/diagnostics.js';

export type ResumeRefusalName = keyof typeof ResumeRefuseReason;

const REFUSAL_NAMES = new Map<number, ResumeRefusalName>(
  Object.entries(ResumeRefuseReason).map(([name, value]) => [value, name as ResumeRefusalName]),
);

/** The name of a RESUME_REFUSED reason code (`wrongSecret`, `expired`, ...). */
export function resumeRefusalName(reason: ResumeRefuseReasonValue): ResumeRefusalName {
  return REFUSAL_NAMES.get(reason) ?? 'unknown';
}

const opened = channel(CHANNELS.sessionOpened);
const interrupted = channel(CHANNELS.sessionInterrupted);
const resumed = channel(CHANNELS.sessionResumed);
const resumeRefused = channel(CHANNELS.sessionResumeRefused);
const closed = channel(CHANNELS.sessionClosed);
const refused = channel(CHANNELS.handshakeRefused);

export function publishOpened(server: DiagnosticsSource, session: Session, restored: boolean): void {
  if (!opened.hasSubscribers) return;
  opened.publish({
    server,
    session,
    id: session.id,
    transport: session.driver.attached?.kind ?? null,
    restored,
  } satisfies SessionOpenedMessage);
}

/** A machine event of a server's session: interrupted, resumed and closed are published, the rest ignored. */
export function publishSessionEvent(
  server: DiagnosticsSource,
  session: Session,
  id: string,
  event: { type: string; error?: { code: string }; replayed?: number },
): void {
  if (event.type === 'interrupted') {
    if (interrupted.hasSubscribers)
      interrupted.publish({ server, session, id, code: event.error?.code ?? null } satisfies SessionInterruptedMessage);
  } else if (event.type === 'resumed') {
    if (resumed.hasSubscribers)
      resumed.publish({
        server,
        session,
        id,
        transport: session.driver.attached?.kind ?? null,
        replayed: event.replayed ?? 0,
      } satisfies SessionResumedMessage);
  } else if (event.type === 'closed') {
    // A handshake that was refused never opened a session: it is reported as refused, not closed.
    if (closed.hasSubscribers && session.negotiated)
      closed.publish({ server, session, id, code: event.error?.code ?? null } satisfies SessionClosedMessage);
  }
}

/** A transport turned away: a RESUME_REFUSED is a resume refusal, anything else a refused handshake. */
export function publishTurnedAway(
  server: DiagnosticsSource,
  transport: { kind: string; remoteAddress: string },
  error: { code: string; message: string },
  frame?: { type: string; reason?: number },
  id?: string,
): void {
  if (frame?.type === 'RESUME_REFUSED') {
    if (resumeRefused.hasSubscribers)
      resumeRefused.publish({
        server,
        id: id ?? '',
        reason: resumeRefusalName(frame.reason as ResumeRefuseReasonValue),
        transport: transport.kind,
        remoteAddress: transport.remoteAddress,
      } satisfies SessionResumeRefusedMessage);
    return;
  }
  publishHandshakeRefused(server, transport, error);
}

export function publishHandshakeRefused(
  server: DiagnosticsSource,
  transport: { kind: string; remoteAddress: string },
  error: { code: string; message: string },
): void {
  if (refused.hasSubscribers)
    refused.publish({
      server,
      code: error.code,
      message: error.message,
      transport: transport.kind,
      remoteAddress: transport.remoteAddress,
    } satisfies HandshakeRefusedMessage);
}
