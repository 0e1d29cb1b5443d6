// AppleTalk Phase 2 over EtherTalk (802.2 LLC/SNAP) and LocalTalk's LLAP: DDP with long and short
// headers, ATP, ZIP and ASP. docs/appletalk.md says what is implemented and how to check it with
// tshark.

export * from './errors.js';
export * from './ddp.js';
export * from './frame.js';
export * from './atp.js';
export {
  decodeZip,
  decodeZipAtpReply,
  decodeZipAtpRequest,
  encodeZip,
  encodeZipAtpReply,
  encodeZipAtpRequest,
  MAX_ZONE_NAME,
  ZIP_ATP_FUNCTIONS,
  ZIP_FUNCTIONS,
  type ZipAtpFunction,
  type ZipAtpReply,
  type ZipAtpRequest,
  type ZipMessage,
  type ZoneTuple,
} from './zip.js';
export * from './asp.js';
export { AppletalkDecoder } from './decoder.js';
export {
  AtpEndpoint,
  type AtpEndpointOptions,
  type AtpEvent,
  type AtpOut,
  type AtpRequestOptions,
} from './atp-endpoint.js';
export { ZipAgent, type ZipAgentOptions, type ZipEvent, type ZoneEntry } from './zip-agent.js';
export { AspSession } from './asp-session.js';
export { ASP_QUANTUM, type AspEvent, type AspSessionOptions, type AspState } from './asp-types.js';
export { AppletalkNode, type AppletalkEvent, type AppletalkNodeOptions } from './node.js';
