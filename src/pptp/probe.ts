// probePptp(): what `colloquy pptp probe` does. Open the control connection, read what the peer
// says about itself in its Start-Control-Connection-Reply, stop the connection cleanly
// (Stop-Control-Connection-Request / -Reply, then TCP close). A refusal (result code other than
// 1) is a result too: it is returned, not thrown, since it tells what the peer is.

import { connectPptp, type PptpConnectOptions } from './client.js';
import { PptpError } from './errors.js';
import {
  bearerNames,
  formatVersion,
  framingNames,
  generalErrorName,
  resultName,
  type StartControlConnectionReply,
  type StopControlConnectionReply,
} from './messages.js';

export interface PptpProbeResult {
  readonly remoteAddress: string;
  readonly reply: StartControlConnectionReply;
  /** Undefined when the peer refused the control connection (then it closes it). */
  readonly stop?: StopControlConnectionReply;
}

export async function probePptp(options: PptpConnectOptions): Promise<PptpProbeResult> {
  let conn;
  try {
    conn = await connectPptp(options);
  } catch (error) {
    if (error instanceof PptpError && error.code === 'ERR_PPTP_START_REFUSED') {
      const details = error.details as { reply: StartControlConnectionReply; remote: string };
      return { remoteAddress: details.remote, reply: details.reply };
    }
    throw error;
  }
  try {
    const stop = await conn.stop({ signal: options.signal });
    return { remoteAddress: conn.remoteAddress, reply: conn.peer, stop };
  } catch (error) {
    conn.destroy();
    throw error;
  }
}

export interface PptpProbeDescription {
  readonly peer: string;
  readonly protocolVersion: string;
  readonly resultCode: number;
  readonly result: string;
  readonly errorCode: number;
  readonly error: string;
  readonly framingCapabilities: { readonly value: number; readonly names: readonly string[] };
  readonly bearerCapabilities: { readonly value: number; readonly names: readonly string[] };
  readonly maximumChannels: number;
  readonly firmwareRevision: number;
  readonly hostName: string;
  readonly vendor: string;
  readonly stop: { readonly resultCode: number; readonly result: string; readonly errorCode: number } | null;
}

/** The probe as a plain object, for --json and for people. */
export function describeProbe(result: PptpProbeResult): PptpProbeDescription {
  const r = result.reply;
  return {
    peer: result.remoteAddress,
    protocolVersion: formatVersion(r.protocolVersion),
    resultCode: r.resultCode,
    result: resultName(r.type, r.resultCode),
    errorCode: r.errorCode,
    error: generalErrorName(r.errorCode),
    framingCapabilities: { value: r.framingCapabilities, names: framingNames(r.framingCapabilities) },
    bearerCapabilities: { value: r.bearerCapabilities, names: bearerNames(r.bearerCapabilities) },
    maximumChannels: r.maximumChannels,
    firmwareRevision: r.firmwareRevision,
    hostName: r.hostName,
    vendor: r.vendor,
    stop:
      result.stop === undefined
        ? null
        : {
            resultCode: result.stop.resultCode,
            result: resultName(result.stop.type, result.stop.resultCode),
            errorCode: result.stop.errorCode,
          },
  };
}
