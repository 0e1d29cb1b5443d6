// One identity for HTTP and real time: `authenticate` / `identify` hooks for a Colloquy server
// that accept the HTTP session cookie carried by a WebSocket upgrade, or an access token carried
// as CONNECT credentials (or an `Authorization: Bearer` upgrade header), and accept a fresh access
// token on the live session (REAUTH: `session.refreshCredentials(token)` on the client).
//
//   const server = await listen({ ws: { server: httpServer }, authenticate: webAuthenticator({ sessions, tokens }) });
//   new ServiceHost(services, { identify: webIdentify({ sessions, tokens }) });
//
// Rules
//   - Credentials (a token) win over the cookie: a client that presents a token means it.
//   - A refresh must name the same principal as before; it cannot switch users on a live session.
//   - A cookie is only read from a WebSocket upgrade (other transports have no HTTP request).
//     With `allowedOrigins`, the upgrade's Origin must be listed (a cross-site page cannot ride
//     the user's cookie: cross-site WebSocket hijacking); SameSite=Lax already keeps browsers
//     from sending the cookie on cross-site upgrades, this is the second lock.
//   - Failures are Refusals (the client sees the message), never crashes; store errors refuse
//     with 'congested' so the client may retry.

import { SessionError } from '../engine/errors.js';
import { Refusal, type AuthRequest } from '../server/server.js';
import type { AccessClaims, TokenService } from './tokens.js';
import { isStoreError, type WebSessions } from './web-sessions.js';

export interface WebIdentity {
  principal: string;
  via: 'cookie' | 'token';
  /** The HTTP session's public id (via cookie). */
  sessionId?: string;
  /** The access token's claims (via token); `exp` says when to refresh. */
  claims?: AccessClaims;
}

export interface WebAuthOptions {
  sessions?: WebSessions;
  tokens?: TokenService;
  /** Refuse sessions with no identity. Default true. */
  required?: boolean;
  /** Origins (`https://app.example`) allowed to use the cookie on an upgrade. Default: any. */
  allowedOrigins?: readonly string[];
}

/** A server `authenticate` hook: resolves with a WebIdentity (or null when not required), or throws a Refusal. */
export function webAuthenticator(options: WebAuthOptions): (request: AuthRequest) => Promise<WebIdentity | null> {
  const required = options.required ?? true;
  return async (request) => {
    const identity = await identifyRequest(options, request);
    if (request.refresh) {
      if (!identity || identity.via !== 'token') throw new Refusal('a refresh needs a fresh access token as credentials', 'unauthorized');
      const before = request.refresh.principal as WebIdentity | null | undefined;
      if (before && typeof before === 'object' && before.principal !== identity.principal) throw new Refusal('a refresh must be for the same principal as the session', 'unauthorized');
      return identity;
    }
    if (!identity && required) throw new Refusal('not logged in: send the session cookie on the upgrade or an access token as credentials', 'unauthorized');
    return identity;
  };
}

/** A ServiceHost `identify` hook: the principal's name, undefined when anonymous, or a Refusal. */
export function webIdentify(options: WebAuthOptions): (request: AuthRequest) => Promise<string | undefined> {
  const authenticate = webAuthenticator({ ...options, required: options.required ?? false });
  return async (request) => (await authenticate(request))?.principal;
}

async function identifyRequest(options: WebAuthOptions, request: AuthRequest): Promise<WebIdentity | null> {
  try {
    const token = tokenOf(request);
    if (token !== undefined) {
      if (!options.tokens) throw new Refusal('this server takes no access tokens', 'unauthorized');
      const claims = await options.tokens.verify(token);
      return { principal: claims.sub, via: 'token', claims };
    }
    if (options.sessions && request.headers?.cookie !== undefined && !request.refresh) {
      checkOrigin(options, request);
      const found = await options.sessions.resolve(request.headers.cookie);
      if (found?.principal) return { principal: found.principal, via: 'cookie', sessionId: found.id };
    }
    return null;
  } catch (error) {
    if (error instanceof Refusal) throw error;
    if (isStoreError(error)) throw new Refusal('the session store is unavailable; try again shortly', 'congested');
    if (error instanceof SessionError) throw new Refusal(error.message, 'unauthorized');
    throw error;
  }
}

function tokenOf(request: AuthRequest): string | undefined {
  if (request.credentials.length > 0) return new TextDecoder('utf-8', { fatal: false }).decode(request.credentials).trim();
  const auth = request.headers?.authorization;
  const value = Array.isArray(auth) ? auth[0] : auth;
  const m = value ? /^Bearer\s+(\S+)$/i.exec(value) : null;
  return m ? (m[1] as string) : undefined;
}

function checkOrigin(options: WebAuthOptions, request: AuthRequest): void {
  if (!options.allowedOrigins) return;
  const origin = request.headers?.origin;
  const value = Array.isArray(origin) ? origin[0] : origin;
  if (!value || !options.allowedOrigins.includes(value)) throw new Refusal(`origin ${value ?? '(none)'} may not use the session cookie here`, 'unauthorized');
}
