// The ISO 8327 / X.225 profile over RFC 1006 and ISO 8073 class 0: codecs, coupler and runtime.

export * from './tpkt-cotp.js';
export * from './tpkt-decoder.js';
export * from './spdu-codes.js';
export { decodeTsdu, encodeSpdu, encodeTsdu, tsduOf } from './spdu.js';
export type { ConnectAcceptItem, DecodeOptions, EncodeOptions, Linking, Reference, Spdu } from './spdu.js';
export { checkLimits, frameToSpdu, spduToFrame, userDataLimit } from './frame-map.js';
export type { MapContext } from './frame-map.js';
export { IsoWire } from './iso-session.js';
export type { CotpInfo, IsoWireOptions } from './iso-options.js';
export { connectIso, listenIso, IsoSession, parseIsoAddress, ISO_DEFAULT_PORT } from './runtime.js';
export type { IsoConnectAnswer, IsoConnectOptions, IsoConnectRequest, IsoListenOptions, IsoServer } from './runtime.js';
