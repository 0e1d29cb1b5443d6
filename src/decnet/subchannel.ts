// The two NSP subchannels' numbering (NSP 4.0.1 §5.3): segment numbers modulo 4096, what is
// sent and not yet acknowledged, what has been received in order. Pure bookkeeping for
// machine.ts: no frames, no clock.
//
// Data subchannel: any number of segments in flight (bounded by flow control and by the
// machine's maxOutstanding), acknowledged cumulatively; a NAK acknowledges up to its number and
// asks for the rest again. Other-data subchannel (interrupts, link service): one message in
// flight at a time, the next one waits for its acknowledgement.

import { DecnetError } from './errors.js';
import { SEGNUM_MODULUS } from './nsp.js';

export const next = (n: number): number => (n + 1) % SEGNUM_MODULUS;

/** How far b is ahead of a, modulo 4096: 0..4095. */
export const ahead = (a: number, b: number): number => (b - a + SEGNUM_MODULUS) % SEGNUM_MODULUS;

/** Half the number space: a number this far ahead or more is behind. */
const HALF = SEGNUM_MODULUS / 2;

export interface Outstanding<T> {
  readonly number: number;
  readonly item: T;
}

/** The sending side of a subchannel: numbers given out, what waits for its acknowledgement. */
export class SendWindow<T> {
  private last = 0;
  private readonly inFlight: Outstanding<T>[] = [];

  /** The number for the next message sent. */
  take(item: T): number {
    this.last = next(this.last);
    this.inFlight.push({ number: this.last, item });
    return this.last;
  }

  /** Forgets what is in flight (the link ended); numbering goes on. */
  clear(): void {
    this.inFlight.length = 0;
  }

  get outstanding(): readonly Outstanding<T>[] {
    return this.inFlight;
  }

  /**
   * Removes what `ack` acknowledges; returns the items acknowledged, or undefined when `ack` names
   * a number not sent yet (a protocol error of the peer). An old acknowledgement removes nothing.
   */
  acknowledge(ack: number): T[] | undefined {
    const first = this.inFlight[0];
    if (first === undefined) return ahead(this.last, ack) === 0 || ahead(ack, this.last) < HALF ? [] : undefined;
    const oldest = (first.number - 1 + SEGNUM_MODULUS) % SEGNUM_MODULUS;
    const span = ahead(oldest, ack);
    if (span > this.inFlight.length) {
      // Behind the oldest outstanding (an old ack) or past the newest sent (bogus).
      return ahead(ack, oldest) < HALF ? [] : undefined;
    }
    return this.inFlight.splice(0, span).map((o) => o.item);
  }
}

/** The receiving side of a subchannel: the last number received in order. */
export class ReceiveWindow {
  last = 0;

  /** 'next' for the one expected, 'duplicate' for one already received, 'ahead' for a gap. */
  classify(n: number): 'next' | 'duplicate' | 'ahead' {
    const d = ahead(this.last, n);
    if (d === 1) return 'next';
    if (d === 0 || d >= HALF) return 'duplicate';
    return 'ahead';
  }
}

/** A subchannel's retransmission timer: when to send what is outstanding again, how often it was. */
export interface RetransmitTimer {
  deadline: number | undefined;
  tries: number;
}

/**
 * The peer broke the link's rules in what it sent: machine.ts tells it (a Disconnect Initiate
 * with `reason`, not retransmitted), fails the link with `error` and closes it.
 */
export class LinkViolation extends Error {
  override name = 'LinkViolation';

  constructor(
    readonly error: DecnetError,
    readonly reason: number,
  ) {
    super(error.message);
  }

  /** More than this side granted on a subchannel, or a request count out of NSP's range (reason 7). */
  static flow(subchannel: string, why: string): LinkViolation {
    return new LinkViolation(
      new DecnetError('ERR_DECNET_FLOW_CONTROL', `the peer broke flow control: ${why}`, 'remote', { subchannel }),
      7,
    );
  }
}
