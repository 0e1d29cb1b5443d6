// One identity for HTTP and real time: `authenticate` / `identify` hooks for a Colloquy server
// that accept the HTTP session cookie carried by a WebSocket upgrade, or an access token carried
// as CONNECT credentials (or an `Authorization: Bearer` upgrade header), and accept a fresh access
// token on the live session (REAUTH: `session.refreshCredentials(token)` on the client).
//
//   const server = await listen({ ws: { server: httpServer, verify: webUpgradeCheck({ sessions }) }, authenticate: webAuthenticator({ sessions, tokens }) });
//   new ServiceHost(services, { identify: webIdentify({ sessions, tokens }) });
//
// Rules
//   - Credentials (a token) win over the cookie: a client that presents a token means it.
//   - A refresh must name the same principal as before; it cannot switch users on a live session.
//   - A cookie is only read from a WebSocket upgrade (other transports have no HTTP request).
//   - Origin (cross-site WebSocket hijacking): an upgrade that carries an Origin must come from
//     the page's own origin (the scheme of the upgrade and its Host) or one in `allowedOrigins`;
//     `Origin: null` never passes. `webUpgradeCheck` refuses others before the upgrade with 403
//     (UPGRADE_REFUSED_STATUS); `webAuthenticator` refuses them too (a server without the check
//     still does not let the cookie count). An upgrade without Origin is not from a browser page
//     (a native or Node client) and passes. SameSite=Lax keeps browsers from sending the cookie
//     on cross-site upgrades; this is the lock that does not depend on the browser.
//   - Over TLS (wss, or X-Forwarded-Proto https with trustProxy) only the cookie name the
//     session layer issues there is read: `__Host-sid`. A plain `sid` cookie (which a network
//     attacker or a sibling subdomain can plant, unlike a __Host- one) is refused by name.
//   - Failures are Refusals (the client sees the message), never crashes; store errors refuse
//     with 'congested' so the client may retry.

import { SessionError } from '../engine/errors.js';
import { Refusal, type AuthRequest } from '../server/server.js';
import type { AccessClaims, TokenService } from './tokens.js';
import { readCookie } from './cookie.js';
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
  /** Origins (`https://app.example`) besides the upgrade's own whose pages may connect. Default: none. */
  allowedOrigins?: readonly string[];
}

/** The HTTP status `webUpgradeCheck` refuses a cross-site upgrade with. */
export const UPGRADE_REFUSED_STATUS = 403;

/**
 * A `ws.verify` hook for the server's WebSocket endpoint: refuses an upgrade from another site's
 * page (its Origin is neither the upgrade's own origin nor in `allowedOrigins`) with 403 before
 * anything is upgraded. `sessions` lends its `trustProxy` (X-Forwarded-Proto) to tell wss.
 */
export function webUpgradeCheck(
  options: Pick<WebAuthOptions, 'sessions' | 'allowedOrigins'>,
): (request: { headers: AuthRequest['headers']; socket?: unknown }) => { status: number; message: string } | undefined {
  return (request) => {
    const secure = (request.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
    const problem = originProblem(options, request.headers, isSecure(options, request.headers, secure));
    return problem === null ? undefined : { status: UPGRADE_REFUSED_STATUS, message: problem };
  };
}

/** A server `authenticate` hook: resolves with a WebIdentity (or null when not required), or throws a Refusal. */
export function webAuthenticator(options: WebAuthOptions): (request: AuthRequest) => Promise<WebIdentity | null> {
  const required = options.required ?? true;
  return async (request) => {
    const identity = await identifyRequest(options, request);
    if (request.refresh) {
      if (!identity || identity.via !== 'token')
        throw new Refusal('a refresh needs a fresh access token as credentials', 'unauthorized');
      const before = request.refresh.principal as WebIdentity | null | undefined;
      if (before && typeof before === 'object' && before.principal !== identity.principal)
        throw new Refusal('a refresh must be for the same principal as the session', 'unauthorized');
      return identity;
    }
    if (!identity && required)
      throw new Refusal(
        'not logged in: send the session cookie on the upgrade or an access token as credentials',
        'unauthorized',
      );
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
      const secure = isSecure(options, request.headers, request.secure === true);
      const problem = originProblem(options, request.headers, secure);
      if (problem !== null) throw new Refusal(problem, 'unauthorized');
      if (secure) {
        const name = options.sessions.cookieName(true);
        const plain = options.sessions.cookieName(false);
        if (
          plain !== name &&
          readCookie(request.headers.cookie, name) === undefined &&
          readCookie(request.headers.cookie, plain) !== undefined
        ) {
          throw new Refusal(
            `over TLS the session cookie must be ${name}; a plain ${plain} cookie is not accepted (log in again over https)`,
            'unauthorized',
          );
        }
      }
      const found = await options.sessions.resolve(request.headers.cookie, { secure });
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
  if (request.credentials.length > 0)
    return new TextDecoder('utf-8', { fatal: false }).decode(request.credentials).trim();
  const auth = request.headers?.authorization;
  const value = Array.isArray(auth) ? auth[0] : auth;
  const m = value ? /^Bearer\s+(\S+)$/i.exec(value) : null;
  return m ? (m[1] as string) : undefined;
}

function header(headers: AuthRequest['headers'], name: string): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Whether the upgrade came over TLS: the socket, or a trusted proxy's X-Forwarded-Proto. */
function isSecure(options: Pick<WebAuthOptions, 'sessions'>, headers: AuthRequest['headers'], tls: boolean): boolean {
  return options.sessions ? options.sessions.isSecure(tls, headers?.['x-forwarded-proto']) : tls;
}

/** Why an upgrade's Origin is refused, or null when it passes (none, its own, or allowed). */
function originProblem(
  options: Pick<WebAuthOptions, 'allowedOrigins'>,
  headers: AuthRequest['headers'],
  secure: boolean,
): string | null {
  const origin = header(headers, 'origin');
  if (origin === undefined) return null; // not sent by a browser page
  const host = header(headers, 'host')?.toLowerCase();
  if (host !== undefined && origin.toLowerCase() === `${secure ? 'https' : 'http'}://${host}`) return null;
  if (options.allowedOrigins?.includes(origin)) return null;
  return `a page of ${origin} may not open sessions here (cross-site WebSocket): only this server's own origin${options.allowedOrigins?.length ? ` and ${options.allowedOrigins.join(', ')}` : ''} may; add it to allowedOrigins if it should`;
}
