// Session URLs: tcp://host:port, tls://host:port, ws://host:port/path, wss://host:port/path,
// memory://name.

import { SessionError } from '../engine/errors.js';

export type Endpoint =
  | { scheme: 'tcp' | 'tls'; host: string; port: number }
  | { scheme: 'ws' | 'wss'; url: string; host: string; port: number }
  | { scheme: 'memory'; name: string };

export function parseSessionUrl(input: string): Endpoint {
  let u: URL;
  try {
    u = new URL(input);
  } catch {
    throw new SessionError('ERR_INVALID_URL', `'${input}' is not a URL`, 'local', { url: input });
  }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme === 'memory') {
    const name = u.host || u.pathname.replace(/^\/+/, '');
    if (!name) throw new SessionError('ERR_INVALID_URL', `'${input}' names no memory endpoint`, 'local', { url: input });
    return { scheme, name };
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!host) throw new SessionError('ERR_INVALID_URL', `'${input}' has no host`, 'local', { url: input });
  if (scheme === 'ws' || scheme === 'wss') {
    return { scheme, url: u.toString(), host, port: Number(u.port || (scheme === 'ws' ? 80 : 443)) };
  }
  if (scheme === 'tcp' || scheme === 'tls') {
    const port = Number(u.port);
    if (!u.port || !Number.isInteger(port) || port <= 0 || port > 65535) throw new SessionError('ERR_INVALID_URL', `'${input}' needs a port`, 'local', { url: input });
    return { scheme, host, port };
  }
  throw new SessionError('ERR_INVALID_URL', `unsupported scheme '${scheme}:' in '${input}'`, 'local', { url: input });
}
