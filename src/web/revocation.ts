// Logout and revoke end the real-time sessions bound to them. A real-time session opened with a
// web session's cookie, or with an access token of a refresh family, lives on its own once
// accepted; without this, logging out (or revoking a stolen token's family) would leave it
// running under that login for as long as its client keeps it up.
//
//   const server = await listen({ ws: { server: http }, authenticate: webAuthenticator({ sessions, tokens }) });
//   const stop = await endRealtimeOnRevoke(server, { sessions, tokens, bus });
//
// Theory of operation
//   - WebSessions and TokenService announce each revocation they make (Revocations below): a
//     web session destroyed (logout) or revoked, all of a principal's, a token family revoked
//     (logout, or reuse detected), all of a subject's, one access token deny-listed.
//   - Each announcement ends the bound sessions of the local server at once (Server.revoke:
//     ABORT reason revoked, ERR_REVOKED at the client, never resumable) and goes out on the bus,
//     so every node sharing it ends its own. A node handles its own message again: ending is
//     idempotent, and the local end does not wait for the bus.
//   - Which sessions are bound is decided from their principal: by default the WebIdentity that
//     webAuthenticator gives (cookie: the web session's id or principal; token: the family,
//     subject or jti); `bound` replaces that for other principals (serve's own).
//   - Bus messages are JSON of at most MAX_REVOCATION_BYTES, checked field by field; anything
//     else is dropped (and reported to onError), never thrown.
//   - The bus is at most once: a node that misses a message (it was down, or the link was)
//     keeps the session. Pair this with a check when a session is restored from the store
//     (serve does: a login that no longer exists ends the restored session).

import type { Server } from '../server/server.js';
import type { WebIdentity } from './realtime.js';

/** What was revoked. */
export type Revocation =
  | { kind: 'web-session'; id: string; principal: string | null }
  | { kind: 'web-principal'; principal: string }
  | { kind: 'token-family'; familyId: string }
  | { kind: 'token-subject'; subject: string }
  | { kind: 'access-token'; jti: string };

/** The largest revocation message taken from the bus. */
export const MAX_REVOCATION_BYTES = 1024;
/** The bus topic revocations travel on unless told otherwise. */
export const REVOCATION_TOPIC = 'colloquy:revoked';

/** A Bus (src/cluster/bus.ts: LocalBus, RedisBus, PostgresBus) as far as revocations need one. */
export interface RevocationBus {
  publish(topic: string, message: Uint8Array): Promise<void>;
  subscribe(topic: string, handler: (message: Uint8Array) => void): Promise<() => Promise<void>>;
}

/** The listeners a WebSessions or TokenService tells of each revocation it makes. */
export class Revocations {
  private readonly listeners = new Set<(revocation: Revocation) => void>();

  /** Calls `listener` after each revocation; returns the function that stops it. */
  on(listener: (revocation: Revocation) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** @internal */
  emit(revocation: Revocation): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(revocation);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        }); // a listener's bug must not undo the logout
      }
    }
  }
}

export interface RealtimeRevocationOptions {
  /** Its logouts and revokes end the sessions opened with its cookies. */
  sessions?: { revocations: Revocations };
  /** Its revoked families, subjects and tokens end the sessions opened with their access tokens. */
  tokens?: { revocations: Revocations };
  /** Nodes sharing a store: a revocation made on one ends the bound sessions on all. */
  bus?: RevocationBus;
  /** Default REVOCATION_TOPIC. */
  topic?: string;
  /** Whether a session whose principal is `principal` is bound to `revocation`. Default: boundWebIdentity. */
  bound?: (principal: unknown, revocation: Revocation) => boolean;
  /** Told about bus failures and malformed bus messages (the local sessions are ended anyway). */
  onError?: (error: unknown) => void;
}

/**
 * Ends `server`'s real-time sessions bound to each revocation `sessions` and `tokens` make, and,
 * with a bus, those of every node listening on it. Resolves once the bus subscription is active
 * with the function that stops listening.
 */
export async function endRealtimeOnRevoke(
  server: Pick<Server, 'revoke'>,
  options: RealtimeRevocationOptions,
): Promise<() => Promise<void>> {
  const bound = options.bound ?? boundWebIdentity;
  const topic = options.topic ?? REVOCATION_TOPIC;
  const report = (error: unknown): void => {
    options.onError?.(error);
  };
  const end = (revocation: Revocation): number =>
    server.revoke((session) => bound(session.principal, revocation), messageFor(revocation));
  const unsubscribe = options.bus
    ? await options.bus.subscribe(topic, (bytes) => {
        const revocation = parseRevocation(bytes);
        if (revocation) end(revocation);
        else report(new Error(`a revocation message on '${topic}' did not parse; dropped`));
      })
    : null;
  const announce = (revocation: Revocation): void => {
    end(revocation);
    options.bus?.publish(topic, new TextEncoder().encode(JSON.stringify(revocation))).catch(report);
  };
  const offs = [options.sessions?.revocations.on(announce), options.tokens?.revocations.on(announce)];
  return async () => {
    for (const off of offs) off?.();
    await unsubscribe?.();
  };
}

/** The default `bound`: a WebIdentity (webAuthenticator) opened with the cookie or token revoked. */
export function boundWebIdentity(principal: unknown, revocation: Revocation): boolean {
  if (principal === null || typeof principal !== 'object') return false;
  const p = principal as Partial<WebIdentity>;
  switch (revocation.kind) {
    case 'web-session':
      return p.via === 'cookie' && p.sessionId === revocation.id;
    case 'web-principal':
      return p.via === 'cookie' && p.principal === revocation.principal;
    case 'token-family':
      return p.via === 'token' && p.claims?.sid === revocation.familyId;
    case 'token-subject':
      return p.via === 'token' && p.principal === revocation.subject;
    case 'access-token':
      return p.via === 'token' && p.claims?.jti === revocation.jti;
  }
}

function messageFor(revocation: Revocation): string {
  const what =
    revocation.kind === 'web-session'
      ? 'the login (web session) this session was opened with was logged out'
      : revocation.kind === 'web-principal'
        ? 'every login of this user was logged out'
        : revocation.kind === 'token-family'
          ? 'the token family this session was opened with was revoked'
          : revocation.kind === 'token-subject'
            ? 'every token of this user was revoked'
            : 'the access token this session was opened with was revoked';
  return `${what}: log in again to open a new session`;
}

const FIELDS: Record<Revocation['kind'], readonly string[]> = {
  'web-session': ['id', 'principal'],
  'web-principal': ['principal'],
  'token-family': ['familyId'],
  'token-subject': ['subject'],
  'access-token': ['jti'],
};

/** A revocation from bus bytes, or null for anything that is not exactly one. */
export function parseRevocation(bytes: Uint8Array): Revocation | null {
  if (bytes.length > MAX_REVOCATION_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const o = value as Record<string, unknown>;
  const fields =
    typeof o.kind === 'string' && Object.hasOwn(FIELDS, o.kind) ? FIELDS[o.kind as Revocation['kind']] : undefined;
  if (!fields || Object.keys(o).length !== fields.length + 1) return null;
  for (const f of fields) {
    const v = o[f];
    if (!(typeof v === 'string' && v !== '') && !(f === 'principal' && o.kind === 'web-session' && v === null))
      return null;
  }
  return o as unknown as Revocation;
}
