// The URL schemes connect() hands to a protocol profile instead of dialing them itself (its own
// are tcp, tls, ws, wss and memory, src/client/url.ts). The profiles sit above the client and
// fill this table in when loaded (src/iso/profile.ts registers iso://), so the client imports
// none of them. The package's entry points (src/index.ts, src/client.ts) load every profile.

import type { Session } from '../driver/session.js';

/**
 * The registered schemes by name, with what their connect takes and gives. Each profile adds its
 * entry by declaration merging (src/iso/profile.ts), which types connect('iso://…').
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ProfileSchemes {}

/** Opens a session to a URL of the scheme; `options` is what connect() was given. */
export type SchemeConnect = (url: string, options: object) => Promise<Session>;

const schemes = new Map<string, SchemeConnect>();

/** Makes connect() hand URLs that start with `scheme://` to `connect`. */
export function registerScheme(scheme: string, connect: SchemeConnect): void {
  schemes.set(scheme, connect);
}

/** The profile's connect for this URL's scheme (as written, before `://`), or undefined for the client's own. */
export function schemeConnect(url: string): SchemeConnect | undefined {
  const end = url.indexOf('://');
  return end > 0 ? schemes.get(url.slice(0, end)) : undefined;
}
