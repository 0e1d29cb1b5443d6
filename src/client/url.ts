// Session URLs: tcp://host:port, tls://host:port, ws://host:port/path, wss://host:port/path,
// memory://name.

import { SessionError } from '../engine/errors.js';
import type {} from './errors.js';
import type {} from '../driver/errors.js';

export type Endpoint =
  | { scheme: 'tcp' | 'tls'; host: string; port: number }
  | { scheme: 'ws' | 'wss'; url: string; host: string; port: number }
  | { scheme: 'memory'; name: string };

export function parseSessionUrl(input: string): Endpoint {
  // HOST:PORT without a scheme parses as the scheme "HOST:" with no host: say what to write.
  const bare = /^([^/:?#\s]+):(\d+)\/?$/.exec(input);
  if (bare) {
    const [, host, port] = bare as unknown as [string, string, string];
    throw new SessionError(
      'ERR_INVALID_URL',
      `'${input}' has no scheme: write tcp://${host}:${port} (the native protocol over TCP) or ws://${host}:${port}/session (WebSocket)`,
      'local',
      { url: input },
    );
  }
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new SessionError('ERR_INVALID_URL', `'${input}' is not a URL`, 'local', { url: input });
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'memory') {
    const name = u.host || u.pathname.replace(/^\/+/, '');
    if (!name)
      throw new SessionError('ERR_INVALID_URL', `'${input}' names no memory endpoint`, 'local', { url: input });
    return { scheme, name };
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new SessionError('ERR_INVALID_URL', `'${input}' has no host`, 'local', { url: input });
  if (scheme === 'ws' || scheme === 'wss') {
    return { scheme, url: u.toString(), host, port: Number(u.port || (scheme === 'ws' ? 80 : 443)) };
  }
  if (scheme === 'tcp' || scheme === 'tls') {
    const port = Number(u.port);
    if (!u.port || !Number.isInteger(port) || port <= 0 || port > 65535)
      throw new SessionError('ERR_INVALID_URL', `'${input}' needs a port`, 'local', { url: input });
    return { scheme, host, port };
  }
  // A protocol profile's scheme (iso://) arrives here only where no entry point loaded the profile: in the browser bundle.
  throw new SessionError(
    'ERR_INVALID_URL',
    `unsupported scheme '${scheme}:' in '${input}': use tcp://, tls://, ws://, wss:// or memory://; iso:// works where the ISO profile is loaded (the package's Node entries, not the browser bundle)`,
    'local',
    { url: input },
  );
}

/**
 * What to type instead when a dial failed because the URL names the wrong kind of endpoint:
 * a WebSocket URL on a path nothing serves (404), or on a port that does not speak HTTP (the
 * native TCP port). Appended to the connect error's message; undefined when nothing fits.
 */
export function wrongEndpointHint(endpoint: Endpoint, cause: string): string | undefined {
  if (endpoint.scheme !== 'ws' && endpoint.scheme !== 'wss') return undefined;
  const u = new URL(endpoint.url);
  if (/Unexpected server response: 404/.test(cause)) {
    const path = u.pathname === '/session' ? '' : ` (colloquy serve's is ${u.protocol}//${u.host}/session)`;
    return `; nothing accepts WebSocket sessions at the path ${u.pathname}${path}`;
  }
  if (/Parse Error|Expected HTTP/i.test(cause)) {
    return `; the port answered, but not in HTTP: it is likely a native TCP endpoint, try tcp://${u.host}`;
  }
  return undefined;
}

/**
 * The native handshake read an HTTP answer ("HTTP/1.1 400 …": first byte 0x48, no frame type):
 * the URL names a web port. Returns the connect error that says so, or undefined.
 */
export function httpAnswerHint(
  endpoint: Endpoint,
  url: string,
  error: SessionError | undefined,
): SessionError | undefined {
  if (!error || (endpoint.scheme !== 'tcp' && endpoint.scheme !== 'tls')) return undefined;
  if (error.code !== 'ERR_UNKNOWN_FRAME_TYPE' || error.details['code'] !== 0x48) return undefined;
  const ws = endpoint.scheme === 'tls' ? 'wss' : 'ws';
  return new SessionError(
    'ERR_CONNECT_FAILED',
    `${url} answered in HTTP: that is a web port, not a native one; use ${ws}://${endpoint.host}:${endpoint.port}/session, or ${endpoint.scheme}:// with the TCP port (colloquy serve's default is 7201)`,
    'remote',
    { cause: error.message, url },
  );
}
