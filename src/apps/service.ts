// The contract between `colloquy serve` and the services it offers (chat, RPC, files, ...).
//
// Theory of operation
//   A client names the service it wants in the CONNECT user data, as a JSON "hello":
//     {"service":"chat","nick":"ada","room":"lobby"}
//   The server's `authenticate` hook (built by serve) decodes it with `decodeHello`, checks that
//   the service exists, and returns a Principal that carries the hello; the session keeps that
//   principal for its whole life, across resumes and across a restore on another node. When the
//   server emits `session`, serve calls `service.open(session, principal)` once per session (a
//   resumed session is the same Session object and is not opened again; a session restored from
//   the store on another node is a new Session object and is opened there, with `restored: true`).
//
//   Messages inside a service's session are the service's own business; the services shipped
//   here send one JSON text per session data unit (chat, RPC) or a small binary framing (files).
//   Nodes talk to each other through a Bus (topic -> messages, at most once, in order per
//   publisher; src/cluster/bus.ts): LocalBus inside one process, a Redis or PostgreSQL bus across
//   processes (src/cluster/).

import { Refusal } from '../server/server.js';
import type { Session } from '../driver/session.js';

/** Largest hello accepted in CONNECT user data (bytes of UTF-8 JSON). */
export const MAX_HELLO_BYTES = 4096;

/** What a client sends in CONNECT user data: the service it wants and that service's parameters. */
export interface ServiceHello {
  service: string;
  [parameter: string]: unknown;
}

/** Who a served session belongs to. `name` is set when the client proved an identity (HTTP session cookie, access token). */
export interface Principal {
  service: string;
  hello: ServiceHello;
  name?: string;
  /** The proven identity that owns the session (unique per login), when it differs from `name`. */
  id?: string;
  /** The identity is the server's admin. */
  admin?: boolean;
}

/**
 * Who may open sessions of a service (docs/security.md): `anyone` (no identity needed),
 * `login` (a proven identity: a web login, the admin token, credentials the identify hook
 * accepts) or `admin` (the admin only).
 */
export type Audience = 'anyone' | 'login' | 'admin';

/** A proven identity, as an identify hook returns it. */
export interface Identified {
  /** Unique per identity: what ownership follows. */
  id: string;
  /** What to show (chat nick, live view). */
  name: string;
  admin?: boolean;
}

export interface OpenContext {
  /** True when this node took the session over from the store after the node holding it died. */
  restored: boolean;
}

export interface Service {
  /** The name clients put in `hello.service`. */
  readonly name: string;
  /** Checks a hello before the session is accepted; throw a Refusal to say no (its message reaches the client). */
  validate?(hello: ServiceHello, principal: Principal): void | Promise<void>;
  /** Takes over a new session; must not throw (report problems by aborting the session). */
  open(session: Session, principal: Principal, context: OpenContext): void;
  /** Stops the service: ends its timers and subscriptions (sessions are closed by the server). */
  close?(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeHello(hello: ServiceHello): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(hello));
  if (bytes.length > MAX_HELLO_BYTES)
    throw new RangeError(`the hello is ${bytes.length} bytes; at most ${MAX_HELLO_BYTES} (MAX_HELLO_BYTES)`);
  return bytes;
}

/** Decodes CONNECT user data into a hello, or throws a Refusal that tells the client what is wrong. */
export function decodeHello(userData: Uint8Array): ServiceHello {
  if (userData.length === 0)
    throw new Refusal('name a service in the CONNECT user data, e.g. {"service":"chat"}', 'rejected');
  if (userData.length > MAX_HELLO_BYTES)
    throw new Refusal(`the hello is ${userData.length} bytes; at most ${MAX_HELLO_BYTES}`, 'rejected');
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(userData));
  } catch {
    throw new Refusal('the CONNECT user data is not UTF-8 JSON; send {"service":"<name>", ...}', 'rejected');
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    typeof (value as { service?: unknown }).service !== 'string'
  ) {
    throw new Refusal('the hello must be a JSON object with a "service" string', 'rejected');
  }
  return value as ServiceHello;
}
