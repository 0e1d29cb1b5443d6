// IsoWire: a SessionMachine speaking ISO 8327 (X.225) over RFC 1006 TPKT and ISO 8073 class 0.
//
// The native coupler (../engine/wire-session.ts) turns frames into Colloquy's own octets; this
// one turns the same frames into SPDUs, TSDUs and TPDUs, so the unchanged machine drives an
// ISO session. It has WireSession's four calls and is used in its place.
//
//   initiator:  TCP up -> CR ....... CC -> (machine CONNECT) CN ... AC/RF -> data phase
//   acceptor:   TCP up ... CR -> CC ....... CN -> (machine connect-request) ... AC/RF
//
//   bytes -> TpktDecoder -> TPDU -> TsduAssembler (DT..EOT) -> decodeTsdu -> SPDUs -> frames -> machine
//   machine -> frames -> SPDUs -> TSDU (GT in front of category 2) -> DT TPDUs of the TPDU size
//
// What the machine expects and X.225 lacks:
//   - ACK: the machine keeps sent frames for loss-free resume until the peer acknowledges them.
//     X.225 has no resume (the transport connection is the session's only path), so the sent
//     count is acknowledged locally as soon as a frame is encoded; nothing goes on the wire.
//   - HEARTBEAT: none (the ISO runtime turns heartbeats off); RESUME: none, and the loss of the
//     transport ends the session (ERR_ABORTED) instead of interrupting it.
// Errors: a TPKT/COTP that does not parse is answered with a COTP ER and the session ends (the
// octet stream cannot be trusted any more); a DR ends it; an SPDU that does not parse or does not
// fit the state is a protocol error of the machine, answered with AB (protocol error).
//
// The transport (TPKT, COTP's CR/CC/DR/ER, DT reassembly and cutting) is a part this owns,
// cotp-link.ts; this file maps SPDUs to the machine's frames and back.

import { bytesEqual } from '../engine/bytes.js';
import { ProtocolError, SessionError } from '../engine/errors.js';
import { CotpLink } from './cotp-link.js';
import { EMPTY, isSessionFrame } from '../engine/frames.js';
import type { ConnectFrame, Frame } from '../engine/frames.js';
import type { SessionMachine } from '../engine/machine/index.js';
import { availableTokens, tokenSetOf } from '../engine/machine/tokens.js';
import { WireSession } from '../engine/wire-session.js';
import {
  acceptToAc,
  acToAccept,
  cnToConnect,
  connectToCn,
  providerRefusal,
  refuseToRf,
  rfToRefuse,
} from './connect-map.js';
import type { VersionBits } from './connect-map.js';
import { checkLimits, frameToSpdu, spduToFrame } from './frame-map.js';
import type { MapContext } from './frame-map.js';
import { concatBytes } from './octets.js';
import { TransportDisconnect } from './spdu-codes.js';
import { decodeTsdu, encodeSpdu, tsduOf } from './spdu.js';
import type { EncodeOptions, Spdu } from './spdu.js';
import { dataTsdus, MIN_TSDU_LIMIT, SsduAssembler } from './ssdu.js';
import { DEFAULT_SELECTOR, sizeCode, versionBits } from './iso-options.js';
import type { CotpInfo, IsoWireOptions } from './iso-options.js';

export type { CotpInfo, IsoWireOptions } from './iso-options.js';

type Bytes = Uint8Array;

export class IsoWire extends WireSession {
  readonly compat: boolean;
  readonly versions: VersionBits;
  /** The peer's CN (acceptor) and the peer's answer, AC, RF or AB (initiator), as decoded. */
  peerConnect: Spdu | undefined;
  peerAnswer: Spdu | undefined;
  /** The X.225 version agreed at connect. */
  version: 1 | 2 = 2;

  private readonly enc: EncodeOptions;
  private readonly link: CotpLink;
  private ssdus: SsduAssembler;
  /** The session's phase; the transport's own is the link's state. */
  private phase: 'connect' | 'data' | 'closed' = 'connect';
  private muted = false;
  private now = 0;
  private offered: ConnectFrame | undefined;
  private tsduLimit = 0;
  private si42: 'MAA' | 'AEA' = 'MAA';
  private resyncSetting = 0;

  constructor(
    machine: SessionMachine,
    readonly options: IsoWireOptions,
  ) {
    super(machine);
    this.compat = options.libiec61850 ?? false;
    this.versions = versionBits(options.versions ?? (this.compat ? [2] : [1, 2]));
    if (this.compat && this.versions !== 0x02)
      throw new SessionError('ERR_INVALID_ARGUMENT', 'libiec61850 mode speaks X.225 version 2 only', 'local');
    this.enc = { shortOnly: this.compat };
    this.link = new CotpLink(options, sizeCode(options.tpduSize ?? 8192), Math.max(machine.maxFrameSize, 65_539) + 64, {
      tsdu: (tsdu) => this.handleTsdu(tsdu),
      ended: (error) => this.end(error),
      sessionFault: (e) => this.sessionFault(e),
    });
    this.ssdus = new SsduAssembler(machine.maxFrameSize);
  }

  /** The transport connection as COTP set it up. */
  get cotp(): CotpInfo | undefined {
    return this.link.info;
  }

  private get ctx(): MapContext {
    return { version: this.version, compat: this.compat };
  }

  // ---- inputs -----------------------------------------------------------------------------

  override handleTransportUp(now: number): void {
    this.now = now;
    this.ssdus = new SsduAssembler(this.machine.maxFrameSize);
    this.muted = false;
    this.phase = 'connect';
    this.link.start();
    this.machine.handleTransportUp(now);
  }

  override handleTransportDown(now: number, error?: SessionError): void {
    this.now = now;
    const before = this.phase;
    const transport = this.link.state;
    this.phase = 'closed';
    this.link.close();
    const m = this.machine;
    m.handleTransportDown(now, error);
    // X.225 sessions do not outlive their transport connection: no resume, no second connect
    // attempt on another one (the machine would wait for either); the session ends.
    const cause = error ? ` (${error.message})` : '';
    if (m.state === 'interrupted')
      m.terminate(
        new SessionError(
          'ERR_ABORTED',
          `the transport connection closed${cause}; an ISO 8327 session ends with it`,
          'remote',
          { reason: 'transport-lost' },
        ),
      );
    else if (m.state === 'idle' || m.state === 'connecting') {
      // How far the handshake came, for the user: a peer that dislikes a CN often just closes.
      const when =
        this.options.role !== 'initiator'
          ? 'before the session was set up'
          : before === 'connect' && transport === 'open'
            ? 'after our CN, without answering it (no AC, RF or AB)'
            : transport === 'await-cc'
              ? 'before answering the COTP CR (no CC)'
              : 'before the session was set up';
      m.terminate(
        new SessionError('ERR_ABORTED', `the peer closed the transport connection ${when}${cause}`, 'remote', {
          reason: 'transport-lost',
        }),
      );
    }
  }

  override handleBytes(chunk: Bytes, now: number): void {
    const m = this.machine;
    if ((m.state === 'closed' && !m.isAttached) || this.phase === 'closed') return;
    this.now = now;
    m.handleProgress(now);
    this.link.push(chunk);
  }

  private handleTsdu(tsdu: Bytes): void {
    const m = this.machine;
    if (m.state === 'closed') return;
    let spdus: Spdu[];
    try {
      spdus = decodeTsdu(tsdu, { si42: this.si42 });
    } catch (e) {
      return this.sessionFault(e);
    }
    if (this.phase === 'connect') return this.connectPhase(spdus);
    for (const s of spdus) {
      let frame: Frame | null;
      try {
        if (s.enclosure !== undefined && s.type !== 'DT' && s.enclosure !== 3)
          throw new ProtocolError(
            'ERR_MALFORMED_FRAME',
            `${s.type} with only part of its user data (segmenting is implemented for DT only)`,
          );
        checkLimits(s, this.ctx, true);
        frame = spduToFrame(s, this.resyncSetting);
        if (frame?.type === 'DATA') {
          const ssdu = this.ssdus.push(s);
          frame = ssdu ? { type: 'DATA', payload: ssdu } : null;
        }
      } catch (e) {
        return this.sessionFault(e);
      }
      if (s.type === 'AB' && !((s.transportDisconnect ?? TransportDisconnect.released) & TransportDisconnect.released))
        this.sendTsdu(tsduOf({ type: 'AA' }, this.enc));
      if (frame) m.handleFrame(frame, this.now);
    }
  }

  private connectPhase(spdus: Spdu[]): void {
    const m = this.machine;
    const s = spdus.length === 1 ? spdus[0]! : undefined;
    const initiator = this.options.role === 'initiator';
    const expected = initiator ? s && (s.type === 'AC' || s.type === 'RF' || s.type === 'AB') : s?.type === 'CN';
    if (!s || !expected)
      return this.sessionFault(
        new ProtocolError(
          'ERR_PROTOCOL_VIOLATION',
          `${spdus.map((x) => x.type).join('+')} while waiting for ${initiator ? 'AC or RF' : 'CN'}`,
        ),
      );
    this.phase = 'data';
    if (s.type === 'CN') return this.onCn(s);
    this.peerAnswer = s;
    try {
      if (s.type === 'AB') return m.handleFrame(spduToFrame(s)!, this.now);
      if (s.type === 'RF') return m.handleFrame(rfToRefuse(s), this.now);
      const { frame, version, requested } = acToAccept(s, this.offered!, this.versions);
      this.version = version;
      this.tsduLimit = s.connectAccept?.tsduMaxSize?.[0] ?? 0;
      if (this.tsduLimit && this.tsduLimit < MIN_TSDU_LIMIT)
        throw new ProtocolError('ERR_NEGOTIATION_FAILED', `TSDU Maximum Size ${this.tsduLimit} is too small to use`);
      m.handleFrame(frame, this.now);
      // An AC's Token Item lists tokens the acceptor asks for: a please-tokens in all but name.
      const asked = requested & availableTokens(frame.units) & tokenSetOf(m.tokens);
      if (asked && m.state === 'established')
        m.handleFrame({ type: 'PLEASE_TOKENS', tokens: asked, userData: EMPTY }, this.now);
    } catch (e) {
      this.sessionFault(e);
    }
  }

  private onCn(cn: Spdu): void {
    const m = this.machine;
    this.peerConnect = cn;
    const want = this.options.calledSsel;
    if (want && !bytesEqual(cn.calledSsel ?? EMPTY, want)) {
      this.sendTsdu(encodeSpdu(providerRefusal(129), this.enc));
      return this.end(
        new SessionError('ERR_REFUSED', 'CN for another session selector (RF reason 129 sent)', 'local', {
          x225Reason: 129,
        }),
      );
    }
    try {
      const { frame, version } = cnToConnect(cn, this.versions, m.maxFrameSize);
      this.version = version || 2;
      this.tsduLimit = cn.connectAccept?.tsduMaxSize?.[1] ?? 0;
      if (this.tsduLimit && this.tsduLimit < MIN_TSDU_LIMIT)
        throw new ProtocolError('ERR_NEGOTIATION_FAILED', `TSDU Maximum Size ${this.tsduLimit} is too small to use`);
      m.handleFrame(frame, this.now);
    } catch (e) {
      this.sessionFault(e);
    }
  }

  /** An SPDU that does not parse or fit: the machine aborts (AB, protocol error). */
  private sessionFault(e: unknown): void {
    const error = e instanceof SessionError ? e : new ProtocolError('ERR_MALFORMED_FRAME', String(e));
    this.machine.handleProtocolError(error, this.now);
  }

  /** Ends the session with `error`; nothing of the machine's goes out any more (no AB). */
  private end(error: SessionError): void {
    this.phase = 'closed';
    this.muted = true;
    this.link.close();
    this.machine.handleProtocolError(error, this.now);
  }

  // ---- output -----------------------------------------------------------------------------

  private sendTsdu(tsdu: Bytes): void {
    this.link.sendTsdu(tsdu);
  }

  override pollBytes(now: number, maxBytes = 64 * 1024): Bytes | undefined {
    const m = this.machine;
    const parts = this.link.takeOutput();
    let size = 0;
    for (const p of parts) size += p.length;
    if (this.muted)
      while (m.pollFrame(now)) {
        /* dropped: nothing more goes to this peer */
      }
    else if (this.link.state === 'open' && this.phase !== 'closed') {
      for (let f = m.pollFrame(now); f; f = size < maxBytes ? m.pollFrame(now) : undefined) {
        let bytes: Bytes | undefined;
        try {
          bytes = this.encode(f);
        } catch (e) {
          // The frame cannot be expressed in X.225 (a limit, an unavailable service): abort.
          m.terminate(e instanceof SessionError ? e : new SessionError('ERR_ABORTED', String(e)));
          continue;
        }
        if (bytes) {
          parts.push(bytes);
          size += bytes.length;
        }
        // No resume: what is on its way is as acknowledged as it will ever be.
        if (isSessionFrame(f) && m.state === 'established' && m.stats.sent > m.stats.acknowledged)
          m.handleFrame({ type: 'ACK', received: m.stats.sent }, this.now);
      }
    }
    if (parts.length === 0) return undefined;
    return parts.length === 1 ? parts[0] : concatBytes(parts);
  }

  private tpkts(tsdu: Bytes): Bytes {
    return this.link.dataTpkts(tsdu);
  }

  private encode(f: Frame): Bytes | undefined {
    switch (f.type) {
      case 'CONNECT': {
        this.offered = f;
        return this.tpkts(
          encodeSpdu(
            connectToCn(f, {
              versions: this.versions,
              callingSsel: this.options.callingSsel ?? DEFAULT_SELECTOR,
              calledSsel: this.options.calledSsel ?? DEFAULT_SELECTOR,
              compat: this.compat,
            }),
            this.enc,
          ),
        );
      }
      case 'ACCEPT':
        return this.tpkts(
          encodeSpdu(acceptToAc(f, this.peerConnect ?? { type: 'CN' }, this.version, this.compat), this.enc),
        );
      case 'REFUSE':
        return this.tpkts(encodeSpdu(refuseToRf(f, this.versions), this.enc));
      case 'DATA':
        return concatBytes(dataTsdus(f.payload, this.tsduLimit, this.enc).map((t) => this.tpkts(t)));
      default: {
        const s = frameToSpdu(f, this.ctx);
        if (!s) return undefined;
        checkLimits(s, this.ctx, false);
        if (s.type === 'MAP') this.si42 = 'MAA';
        if (s.type === 'AE') this.si42 = 'AEA';
        if (s.type === 'RS') this.resyncSetting = s.tokenSetting ?? 0;
        const tsdu = tsduOf(s, this.enc);
        if (this.tsduLimit && tsdu.length > this.tsduLimit)
          throw new SessionError(
            'ERR_PAYLOAD_TOO_LARGE',
            `${s.type} of ${tsdu.length} octets exceeds the peer's TSDU Maximum Size ${this.tsduLimit}`,
            'local',
            { limit: this.tsduLimit },
          );
        return this.tpkts(tsdu);
      }
    }
  }
}
