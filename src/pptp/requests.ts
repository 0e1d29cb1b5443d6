// What the PNS's requests carry and how their replies are judged (RFC 2637 §2.1, §2.2, §2.7,
// §2.8): the Start-Control-Connection-Request and Outgoing-Call-Request built from the caller's
// options with this library's defaults, and the reply results that fail a request
// (ERR_PPTP_START_REFUSED, ERR_PPTP_CALL_REFUSED). Pure: the machine (machine.ts) keeps the
// pending requests, their ids and deadlines, and what a reply does to the connection.

import { PptpError } from './errors.js';
import {
  BearerCapability,
  FramingCapability,
  generalErrorName,
  PPTP_PROTOCOL_VERSION,
  resultName,
  type OutgoingCallReply,
  type OutgoingCallRequest,
  type StartControlConnectionReply,
  type StartControlConnectionRequest,
} from './messages.js';

/** What start() announces of this side (the SCCRQ's fields), each with its default. */
export interface StartFields {
  readonly hostName?: string;
  readonly vendor?: string;
  readonly firmwareRevision?: number;
  readonly framingCapabilities?: number;
  readonly bearerCapabilities?: number;
  readonly maximumChannels?: number;
  readonly protocolVersion?: number;
}

export type OutgoingCallFields = Partial<Omit<OutgoingCallRequest, 'type'>>;

export function startRequest(o: StartFields): StartControlConnectionRequest {
  return {
    type: 'START_CONTROL_CONNECTION_REQUEST',
    protocolVersion: o.protocolVersion ?? PPTP_PROTOCOL_VERSION,
    framingCapabilities: o.framingCapabilities ?? FramingCapability.ASYNCHRONOUS,
    bearerCapabilities: o.bearerCapabilities ?? BearerCapability.ANALOG,
    maximumChannels: o.maximumChannels ?? 0,
    firmwareRevision: o.firmwareRevision ?? 1,
    hostName: o.hostName ?? 'colloquy',
    vendor: o.vendor ?? 'colloquy',
  };
}

/** A Start-Control-Connection-Reply whose result is not 1 (established). */
export function startRefused(remote: string, reply: StartControlConnectionReply): PptpError {
  const result = resultName(reply.type, reply.resultCode);
  return new PptpError(
    'ERR_PPTP_START_REFUSED',
    `${remote} refused the control connection: ${result}${reply.resultCode === 2 ? ` (${generalErrorName(reply.errorCode)})` : ''}`,
    'remote',
    {
      resultCode: reply.resultCode,
      errorCode: reply.errorCode,
      result,
      error: generalErrorName(reply.errorCode),
      reply,
      remote,
    },
  );
}

/** An Outgoing-Call-Request for `callId`; `serial` is the call serial number when none is given. */
export function outgoingCallRequest(
  fields: OutgoingCallFields,
  callId: number,
  serial: () => number,
): OutgoingCallRequest {
  const phoneNumber = fields.phoneNumber ?? '';
  return {
    type: 'OUTGOING_CALL_REQUEST',
    callId,
    callSerialNumber: fields.callSerialNumber ?? serial(),
    minimumBps: fields.minimumBps ?? 2400,
    maximumBps: fields.maximumBps ?? 10_000_000,
    bearerType: fields.bearerType ?? 3, // any
    framingType: fields.framingType ?? 3, // either
    packetReceiveWindowSize: fields.packetReceiveWindowSize ?? 64,
    packetProcessingDelay: fields.packetProcessingDelay ?? 0,
    phoneNumberLength: fields.phoneNumberLength ?? phoneNumber.length,
    phoneNumber,
    subaddress: fields.subaddress ?? '',
  };
}

/** An Outgoing-Call-Reply whose result is not 1 (connected). */
export function callRefused(remote: string, callId: number, m: OutgoingCallReply): PptpError {
  const result = resultName(m.type, m.resultCode);
  return new PptpError('ERR_PPTP_CALL_REFUSED', `${remote} did not connect call ${callId}: ${result}`, 'remote', {
    resultCode: m.resultCode,
    errorCode: m.errorCode,
    causeCode: m.causeCode,
    result,
    error: generalErrorName(m.errorCode),
    reply: m,
  });
}
