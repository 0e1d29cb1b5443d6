// What DecnetMachine (machine.ts) takes and gives: its options, its states and its events. Kept
// apart so the machine's parts (link-traffic.ts) name the same events without importing the
// machine.

import type { DecnetError, DecnetProtocolError } from './errors.js';
import { LONG_HEADER_LENGTH, MAX_ROUTING_LENGTH } from './frame.js';
import type { FlowControlOption } from './nsp.js';
import type { ConnectData } from './session-control.js';

/** The largest data segment that fits a frame: LENGTH 1498 less the long header and 11 NSP octets. */
export const MAX_SEGMENT_SIZE = MAX_ROUTING_LENGTH - LONG_HEADER_LENGTH - 11;

export interface DecnetMachineOptions {
  /** This node's address (address.ts). */
  readonly address: number;
  /** This end's logical link address, 1..65535. */
  readonly linkAddress: number;
  /** The largest data segment this side receives (SEGSIZE), default 1024. */
  readonly segmentSize?: number;
  /** How the peer must pace data it sends here, default segment request counts. */
  readonly flowControl?: FlowControlOption;
  /** Data request count granted at a time, 1..127, default 8. */
  readonly window?: number;
  /** Data segments in flight at most, whatever the grant, default 16. */
  readonly maxOutstanding?: number;
  readonly retransmitMs?: number;
  readonly maxRetransmits?: number;
  /** After the peer's Connect Ack: how long its Connect Confirm may take, default 30 s. */
  readonly connectTimeoutMs?: number;
  /** Octets handed to send() and not yet acknowledged, default 64 KiB. */
  readonly maxQueuedBytes?: number;
  /** The longest message reassembled from segments, default 64 KiB. */
  readonly maxMessageSize?: number;
  /** Routing pad octets before FLAGS (the padding flag), 0..127, default 0. */
  readonly routingPad?: number;
}

export type DecnetState = 'idle' | 'ci-sent' | 'ci-acked' | 'cr' | 'cc-sent' | 'run' | 'closing' | 'di-sent' | 'closed';

export type DecnetEvent =
  | { readonly type: 'connect-request'; readonly remote: number; readonly data: ConnectData }
  | { readonly type: 'connected'; readonly data: Uint8Array; readonly segmentSize: number }
  | { readonly type: 'data'; readonly data: Uint8Array }
  | { readonly type: 'interrupt'; readonly data: Uint8Array }
  /** Every segment of message `id` (send()'s return value) is acknowledged. */
  | { readonly type: 'sent'; readonly id: number }
  /** The peer asked this side to stop (true) or resume (false) sending data. */
  | { readonly type: 'flow'; readonly stopped: boolean }
  | {
      readonly type: 'disconnected';
      readonly origin: 'local' | 'remote';
      readonly reason: number;
      readonly reasonName: string;
      readonly data: Uint8Array;
      /** ERR_DECNET_DISCONNECTED when the peer ended the link with a reason other than 0. */
      readonly error?: DecnetError;
    }
  | { readonly type: 'failed'; readonly error: Error }
  /** A malformed frame handleFrame dropped. */
  | { readonly type: 'discarded'; readonly error: DecnetProtocolError };

export interface ConnectRequest {
  /** The node to call. */
  readonly remote: number;
  readonly data: ConnectData;
}
