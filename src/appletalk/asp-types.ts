// The ASP session's vocabulary (asp-session.ts): its states, events and options, and the two
// helpers that cut a reply into ATP packets and join them again.

import { ATP_MAX_DATA, ATP_MAX_RESPONSE_PACKETS, type AtpPayload } from './atp.js';
import type { DdpAddress } from './ddp.js';
import type { AppletalkProtocolError } from './errors.js';

/** The most a reply (8 ATP packets of 578 octets) or a write's data carries: ASP's QuantumSize. */
export const ASP_QUANTUM = ATP_MAX_RESPONSE_PACKETS * ATP_MAX_DATA;

export type AspState = 'idle' | 'opening' | 'listening' | 'open' | 'closing' | 'closed';

export type AspEvent =
  | { readonly type: 'opened'; readonly session: number; readonly remote: DdpAddress }
  | { readonly type: 'status'; readonly status: Uint8Array }
  /** Server: a command block arrived; answer with reply(seq, ...). */
  | { readonly type: 'command'; readonly seq: number; readonly data: Uint8Array }
  /** Server: a write's command block and its data arrived; answer with reply(seq, ...). */
  | { readonly type: 'write'; readonly seq: number; readonly command: Uint8Array; readonly data: Uint8Array }
  /** Workstation: the reply to command() or write() `seq`. */
  | {
      readonly type: 'reply';
      readonly seq: number;
      readonly fn: 'Command' | 'Write';
      readonly result: number;
      readonly data: Uint8Array;
    }
  | { readonly type: 'attention'; readonly code: number }
  | { readonly type: 'closed'; readonly origin: 'local' | 'remote' }
  | { readonly type: 'failed'; readonly error: Error }
  | { readonly type: 'discarded'; readonly error: AppletalkProtocolError };

export interface AspSessionOptions {
  readonly role: 'workstation' | 'server';
  readonly tickleMs?: number;
  readonly sessionTimeoutMs?: number;
  /** Server: the write buffer offered in WriteContinue (default ASP_QUANTUM, 4624). */
  readonly maxWriteSize?: number;
  /** Server: the status block GetStatus returns. */
  readonly status?: Uint8Array;
  /** Server: the first session ID (default 1). */
  readonly firstSessionId?: number;
  /** Commands and writes in flight at most (default 8). */
  readonly maxPending?: number;
}

/** Data cut into ATP response packets of 578 octets; `user` rides on the first. */
export function chunks(data: Uint8Array, user: number): AtpPayload[] {
  const out: AtpPayload[] = [];
  for (let at = 0; at === 0 || at < data.length; at += ATP_MAX_DATA)
    out.push({ user: at === 0 ? user : 0, data: data.subarray(at, at + ATP_MAX_DATA) });
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}
