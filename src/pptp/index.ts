// PPTP control connection (RFC 2637): codec, streaming decoder, PNS client and probe.
// docs/pptp.md says what is implemented and how to check it against pptpd.

export * from './messages.js';
export { checkHeader, checkLength, decodeBody, decodeMessage, encodeMessage } from './codec.js';
export { PptpDecoder } from './decoder.js';
export * from './errors.js';
export {
  connectPptp,
  PptpControlConnection,
  type OutgoingCallOptions,
  type PptpConnectOptions,
  type PptpState,
} from './client.js';
export { PptpMachine, type PptpEvent, type PptpMachineOptions, type OutgoingCallFields } from './machine.js';
export { describeProbe, probePptp, type PptpProbeDescription, type PptpProbeResult } from './probe.js';
