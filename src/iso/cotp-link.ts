// The transport under an ISO session, as a part IsoWire owns: RFC 1006 TPKT with ISO 8073 class 0
// (COTP). It sets the transport connection up (the initiator's CR, the acceptor's CC or DR),
// reassembles DT TPDUs into TSDUs, cuts TSDUs into DT TPDUs of the agreed size, and ends the
// connection on DR or ER. It knows nothing of SPDUs: whole TSDUs go up to the host, and what
// the host sends comes down as TSDUs.
//
//   initiator:  start() -> CR ....... CC -> open       acceptor:  start() ... CR -> CC -> open
//                                                                          ... CR (bad) -> DR, ended
//
// Errors: octets that do not parse as TPKT/COTP, or a TPDU the state does not allow, are answered
// with an ER (the stream cannot be trusted any more) and end the connection; a DR or ER from the
// peer ends it; a DT that breaks TSDU reassembly is the session's fault (the host aborts with AB).

import { bytesEqual } from '../engine/bytes.js';
import { ProtocolError, SessionError } from '../engine/errors.js';
import { EMPTY } from '../engine/frames.js';
import { DEFAULT_SELECTOR, type CotpInfo, type IsoWireOptions } from './iso-options.js';
import {
  DrReason,
  encodeDataTpkts,
  encodeTpdu,
  encodeTpkt,
  ErCause,
  MIN_TPDU_SIZE_CODE,
  tpduSizeBytes,
  type ConnectTpdu,
  type Tpdu,
} from './tpkt-cotp.js';
import { TpktDecoder, TsduAssembler } from './tpkt-decoder.js';

type Bytes = Uint8Array;

export type CotpState = 'down' | 'await-cc' | 'await-cr' | 'open' | 'closed';

/** What the transport hands up to the session over it. */
export interface CotpHost {
  /** A whole TSDU arrived on the open connection. */
  tsdu(tsdu: Bytes): void;
  /** The connection ended (DR or ER from the peer, a refused CR, a fault here): the session ends with it, sending nothing more. */
  ended(error: SessionError): void;
  /** A DT broke TSDU reassembly: a session protocol error (answered with AB). */
  sessionFault(error: unknown): void;
}

export class CotpLink {
  /** The transport connection as COTP set it up (once open). */
  info: CotpInfo | undefined;
  private current: CotpState = 'down';
  private tpkt = new TpktDecoder();
  private tsdus: TsduAssembler;
  private out: Bytes[] = [];

  constructor(
    private readonly options: IsoWireOptions,
    /** The largest TPDU this side proposes or accepts, as its size code. */
    private readonly sizeCode: number,
    /** The largest TSDU reassembled. */
    private readonly maxTsdu: number,
    private readonly host: CotpHost,
  ) {
    this.tsdus = new TsduAssembler(maxTsdu);
  }

  get state(): CotpState {
    return this.current;
  }

  /** The transport connection (TCP) is up: the initiator sends its CR, the acceptor waits for one. */
  start(): void {
    this.tpkt = new TpktDecoder();
    this.tsdus = new TsduAssembler(this.maxTsdu);
    this.out = [];
    if (this.options.role === 'initiator') {
      this.current = 'await-cc';
      this.send({
        type: 'CR',
        credit: 0,
        dstRef: 0,
        srcRef: this.localRef,
        classOptions: 0,
        tpduSize: this.sizeCode,
        calledTsap: this.options.calledTsap ?? DEFAULT_SELECTOR,
        callingTsap: this.options.callingTsap ?? DEFAULT_SELECTOR,
        other: [],
      });
    } else this.current = 'await-cr';
  }

  /** Marks the connection gone (the TCP connection closed, or the session ended it). */
  close(): void {
    this.current = 'closed';
  }

  /** Octets from the TCP connection. */
  push(chunk: Bytes): void {
    this.tpkt.push(chunk);
    while (this.current !== 'closed') {
      let tpdu: Tpdu | undefined;
      try {
        tpdu = this.tpkt.next();
      } catch (e) {
        return this.fault(e);
      }
      if (!tpdu) return;
      this.handle(tpdu);
    }
  }

  /** A TSDU to send, cut into DT TPDUs of the agreed size. */
  sendTsdu(tsdu: Bytes): void {
    this.out.push(this.dataTpkts(tsdu));
  }

  /** A TSDU as the DT TPKTs that carry it, for the caller to send in its own order. */
  dataTpkts(tsdu: Bytes): Bytes {
    return encodeDataTpkts(tsdu, this.info?.tpduSize ?? 128);
  }

  /** What this part queued to send (TPDUs and TSDUs), oldest first. */
  takeOutput(): Bytes[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Octets that do not parse as TPKT/COTP, or a TPDU out of place: ER to the peer, and the end. */
  fault(e: unknown): void {
    const error = e instanceof SessionError ? e : new ProtocolError('ERR_MALFORMED_FRAME', String(e));
    if (this.current !== 'closed') {
      const last = this.tpkt.lastPayload;
      const cause = error.code === 'ERR_UNKNOWN_FRAME_TYPE' ? ErCause.invalidTpduType : ErCause.notSpecified;
      this.send({
        type: 'ER',
        dstRef: this.info?.peerRef ?? 0,
        cause,
        invalidTpdu: last?.subarray(0, Math.min(last.length, 4)) ?? EMPTY,
      });
    }
    this.end(error);
  }

  private get localRef(): number {
    return this.options.localRef ?? 1;
  }

  private handle(t: Tpdu): void {
    switch (t.type) {
      case 'CR':
        return this.current === 'await-cr'
          ? this.onCr(t)
          : this.fault(new ProtocolError('ERR_PROTOCOL_VIOLATION', 'COTP CR on a connected transport'));
      case 'CC':
        return this.current === 'await-cc'
          ? this.onCc(t)
          : this.fault(new ProtocolError('ERR_PROTOCOL_VIOLATION', 'unexpected COTP CC'));
      case 'DR':
        return this.end(
          new SessionError(
            this.current === 'open' ? 'ERR_ABORTED' : 'ERR_REFUSED',
            `the peer disconnected the transport (COTP DR reason ${t.reason})`,
            'remote',
            { cotpReason: t.reason },
          ),
        );
      case 'ER':
        return this.end(
          new ProtocolError('ERR_PROTOCOL_VIOLATION', `the peer rejected a TPDU (COTP ER cause ${t.cause})`, {
            cotpCause: t.cause,
          }),
        );
      case 'DT': {
        if (this.current !== 'open')
          return this.fault(
            new ProtocolError('ERR_PROTOCOL_VIOLATION', 'COTP DT before the transport connection was set up'),
          );
        let tsdu: Bytes | undefined;
        try {
          tsdu = this.tsdus.push(t);
        } catch (e) {
          return this.host.sessionFault(e);
        }
        if (tsdu) this.host.tsdu(tsdu);
      }
    }
  }

  private onCr(t: ConnectTpdu): void {
    const peerClasses = [
      t.classOptions >> 4,
      ...t.other.filter((p) => p.code === 0xc7).flatMap((p) => Array.from(p.value, (b) => b >> 4)),
    ];
    const refuse = (reason: number, message: string): void => {
      this.send({ type: 'DR', dstRef: t.srcRef, srcRef: this.localRef, reason });
      this.end(new SessionError('ERR_REFUSED', message, 'local', { cotpReason: reason }));
    };
    if (!peerClasses.includes(0))
      return refuse(DrReason.notSpecified, `COTP CR for class ${t.classOptions >> 4}; only class 0 is spoken`);
    const want = this.options.calledTsap;
    if (want && !bytesEqual(t.calledTsap ?? EMPTY, want))
      return refuse(DrReason.addressUnknown, 'COTP CR for another called TSAP');
    const size = Math.min(t.tpduSize ?? MIN_TPDU_SIZE_CODE, this.sizeCode);
    this.info = {
      tpduSize: tpduSizeBytes(size),
      callingTsap: t.callingTsap,
      calledTsap: t.calledTsap,
      peerRef: t.srcRef,
    };
    this.send({
      type: 'CC',
      credit: 0,
      dstRef: t.srcRef,
      srcRef: this.localRef,
      classOptions: 0,
      tpduSize: size,
      calledTsap: t.calledTsap,
      callingTsap: t.callingTsap,
      other: [],
    });
    this.current = 'open';
  }

  private onCc(t: ConnectTpdu): void {
    if (t.dstRef !== this.localRef)
      return this.fault(
        new ProtocolError('ERR_PROTOCOL_VIOLATION', `COTP CC for reference ${t.dstRef}, ours is ${this.localRef}`),
      );
    if (t.classOptions >> 4 !== 0) {
      this.send({ type: 'DR', dstRef: t.srcRef, srcRef: this.localRef, reason: DrReason.notSpecified });
      return this.end(
        new SessionError(
          'ERR_NEGOTIATION_FAILED',
          `COTP CC chose class ${t.classOptions >> 4}; only class 0 is spoken`,
          'remote',
        ),
      );
    }
    const size = t.tpduSize ?? MIN_TPDU_SIZE_CODE;
    if (size > this.sizeCode)
      return this.fault(
        new ProtocolError('ERR_PROTOCOL_VIOLATION', `COTP CC raised the TPDU size to ${tpduSizeBytes(size)}`),
      );
    this.info = {
      tpduSize: tpduSizeBytes(size),
      callingTsap: t.callingTsap,
      calledTsap: t.calledTsap,
      peerRef: t.srcRef,
    };
    this.current = 'open';
  }

  private end(error: SessionError): void {
    this.current = 'closed';
    this.host.ended(error);
  }

  private send(t: Tpdu): void {
    this.out.push(encodeTpkt(encodeTpdu(t)));
  }
}
