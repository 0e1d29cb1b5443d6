// The ISO 8327 profile in the general API: connect('iso://host:port') and listen({ iso: { port } }).
// The client and the server keep tables of the protocols above them (src/client/schemes.ts,
// src/server/profiles.ts); loading this module fills them in, so neither imports ISO. The
// package's entry points (src/index.ts, src/client.ts, src/server.ts) load it.

import { registerScheme } from '../client/schemes.js';
import type { SessionOptions } from '../driver/session.js';
import { registerServerProfile } from '../server/profiles.js';
import { connectIso, listenIso } from './runtime.js';
import type { IsoConnectOptions, IsoListenOptions, IsoSession } from './runtime.js';

declare module '../client/schemes.js' {
  interface ProfileSchemes {
    /** ISO 8327 over TPKT/COTP: the same Session API, without resume (docs/iso8327.md). */
    iso: { options: IsoConnectOptions; session: IsoSession };
  }
}

declare module '../server/profiles.js' {
  interface ServerProfiles {
    /** An ISO 8327 endpoint (TPKT/COTP/SPDU) whose sessions join this server's (docs/iso8327.md). */
    iso?: Omit<IsoListenOptions, keyof SessionOptions>;
  }
}

registerScheme('iso', (url, options) => connectIso(url, options as IsoConnectOptions));
registerServerProfile('iso', (options, onSession) => listenIso(options as IsoListenOptions, onSession));
