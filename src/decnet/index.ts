// DECnet Phase IV over Ethernet: the routing long data header, NSP and Session Control's connect
// data; the logical link machine. docs/decnet.md says what is implemented and how to check it
// with tshark and tcpdump.

export * from './address.js';
export * from './errors.js';
export * from './nsp.js';
export { encodeNsp } from './nsp-encode.js';
export { decodeNsp } from './nsp-decode.js';
export * from './frame.js';
export * from './session-control.js';
export { DecnetDecoder } from './decoder.js';
export {
  DecnetMachine,
  MAX_SEGMENT_SIZE,
  type ConnectRequest,
  type DecnetEvent,
  type DecnetMachineOptions,
  type DecnetState,
} from './machine.js';
