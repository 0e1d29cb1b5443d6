// Web sessions and tokens: HTTP sessions with cookies (a Web-standard core, node:http / Connect /
// Express middleware, a Fastify plugin), JWT access tokens with rotating refresh tokens, and the
// bridge that lets a real-time session authenticate with either. docs/web-sessions.md.

export {
  WebSessions,
  isStoreError,
  type WebSessionsOptions,
  type SessionInfo,
  type SessionRecord,
  type LoadInput,
} from './web-sessions.js';
export { WebSession, type SessionData, type RegenerateOptions } from './web-session.js';
export { sessionMiddleware, withSession, attachSession, sessionOf, type SessionRequest } from './node.js';
export { readCookie, serializeCookie, type CookieAttributes } from './cookie.js';
export {
  fastifySessions,
  type FastifySessionsOptions,
  type FastifySessionsPlugin,
  type FastifySessionRequest,
} from './fastify.js';
export {
  SigningKeys,
  TOKEN_ALGORITHMS,
  MAX_KEYS,
  type SigningKey,
  type SigningKeysOptions,
  type TokenAlgorithm,
} from './signing-keys.js';
export {
  TokenService,
  MAX_ACCESS_TTL_MS,
  MAX_REMEMBERED_ROTATIONS,
  type TokenServiceOptions,
  type TokenPair,
  type AccessClaims,
  type FamilyInfo,
} from './tokens.js';
export {
  webAuthenticator,
  webIdentify,
  webUpgradeCheck,
  UPGRADE_REFUSED_STATUS,
  type WebIdentity,
  type WebAuthOptions,
} from './realtime.js';
export { WEB_ERROR_CODES } from './errors.js';
export {
  endRealtimeOnRevoke,
  boundWebIdentity,
  parseRevocation,
  Revocations,
  REVOCATION_TOPIC,
  MAX_REVOCATION_BYTES,
  type Revocation,
  type RevocationBus,
  type RealtimeRevocationOptions,
} from './revocation.js';
