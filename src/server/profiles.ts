// The endpoints of other protocols a server opens beside its own, named by a ServerOptions key
// (listen({ iso: { port } })). The profiles sit above the server and fill this table in when
// loaded (src/iso/profile.ts registers `iso`), so the server imports none of them; their
// sessions join the server's. The package's entry points (src/index.ts, src/server.ts) load
// every profile.

import type { Session } from '../driver/session.js';

/**
 * The registered profiles' ServerOptions (each optional), by key. Each profile adds its entry by
 * declaration merging (src/iso/profile.ts); ServerOptions extends this, which types listen({ iso }).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface ServerProfiles {}

/** A profile's endpoint, once listening. */
export interface ProfileEndpoint {
  readonly port: number;
  /** Stops accepting and ends the sessions still open. */
  close(): Promise<void>;
}

/** Opens a profile's endpoint: `options` are the server's with the profile's own key spread over them. */
export type ProfileListen = (options: object, onSession: (session: Session) => void) => Promise<ProfileEndpoint>;

const profiles = new Map<string, ProfileListen>();

/** Makes a server given the option `key` open that profile's endpoint with `listen`. */
export function registerServerProfile(key: string, listen: ProfileListen): void {
  profiles.set(key, listen);
}

/** The registered profiles, by ServerOptions key. */
export function serverProfiles(): ReadonlyMap<string, ProfileListen> {
  return profiles;
}
