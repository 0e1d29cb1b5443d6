// The browser-facing checks every HTTP request and WebSocket upgrade of `colloquy serve` passes
// before anything else looks at it. A browser tab on another site is an attacker: it can make
// the user's browser send requests to serve (on loopback or the LAN), with the user's cookie.
//
// Rules
//   - Host (DNS rebinding): a page on evil.example whose name is re-pointed at 127.0.0.1 talks
//     to serve as "evil.example", same-origin in the browser's eyes. serve answers only to the
//     names it is reached by: IP literals, `localhost`, the name given with --host, this
//     machine's hostname when listening beyond loopback, and --allow-host / --allow-origin
//     names. A request without Host (HTTP/1.0 tools) passes; browsers always send one.
//   - Origin: a browser names the page that made every WebSocket upgrade and every POST. It must
//     be serve's own origin (the scheme and the Host of the request) or one given with
//     --allow-origin. A request without Origin is not from a page (CLI, curl, the library) and
//     passes; `Origin: null` (sandboxed frames, file: pages) does not.
//   - CSRF: state-changing requests (POST) also need `Content-Type: application/json` unless
//     they carry the admin token in Authorization (a header no other site can make a browser
//     send): a form post cannot set that type, and a cross-site fetch that does needs a CORS
//     preflight, which serve never answers. Checked by the routes (./app.ts, ./login.ts).
//   - Every response says: no framing (CSP frame-ancestors 'none', X-Frame-Options DENY), no
//     sniffing, no referrer, and that its resources are for this origin only.
//
// Refusals are 403 with {"error": "..."} naming the flag that would allow the request.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export interface GuardOptions {
  /** The address serve listens on (--host). */
  listenHost: string;
  /** Served over TLS (the origin's scheme is https). */
  secure: boolean;
  /** Extra origins allowed to make requests (--allow-origin), e.g. "https://app.example". */
  allowOrigins?: readonly string[];
  /** Extra host names serve answers to (--allow-host). */
  allowHosts?: readonly string[];
  /** This machine's name, allowed when listening beyond loopback (os.hostname()). */
  machineName?: string;
}

/** Headers every response carries; the page's own CSP (./web-root.ts) replaces the default one. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});

export type GuardVerdict = { ok: true } | { ok: false; status: number; message: string };

const OK: GuardVerdict = { ok: true };

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

export class RequestGuard {
  private readonly hosts = new Set<string>(['localhost']);
  private readonly origins = new Set<string>();
  private readonly scheme: string;

  constructor(options: GuardOptions) {
    this.scheme = options.secure ? 'https:' : 'http:';
    const listen = options.listenHost.toLowerCase();
    if (isIP(listen.replace(/^\[|\]$/g, '')) === 0) this.hosts.add(listen);
    if (!isLoopback(listen) && options.machineName) this.hosts.add(options.machineName.toLowerCase());
    for (const h of options.allowHosts ?? []) this.hosts.add(h.toLowerCase());
    for (const o of options.allowOrigins ?? []) {
      const url = new URL(o);
      this.origins.add(url.origin);
      this.hosts.add(url.hostname.toLowerCase());
    }
  }

  /** Checks Host and Origin of a request or upgrade. */
  check(req: IncomingMessage): GuardVerdict {
    const host = req.headers.host;
    if (host !== undefined && !this.hostAllowed(host)) {
      return {
        ok: false,
        status: 403,
        message: `this server does not answer to the name '${hostName(host)}' (a DNS name re-pointed at it is how DNS rebinding reaches local servers); use its address, or start serve with --allow-host ${hostName(host)}`,
      };
    }
    const origin = req.headers.origin;
    if (origin === undefined) return OK;
    if (this.originAllowed(origin, host)) return OK;
    return {
      ok: false,
      status: 403,
      message: `cross-origin request refused: Origin ${origin} is not this server's; start serve with --allow-origin ${origin} to allow pages from there`,
    };
  }

  private hostAllowed(host: string): boolean {
    const name = hostName(host);
    if (isIP(name) !== 0) return true;
    return this.hosts.has(name);
  }

  private originAllowed(origin: string, host: string | undefined): boolean {
    if (origin === 'null') return false;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (this.origins.has(url.origin)) return true;
    return (
      host !== undefined && url.protocol === this.scheme && url.host.toLowerCase() === normalHost(host, this.scheme)
    );
  }
}

/** The name part of a Host header ("[::1]:7200" -> "::1", "Example.org:80" -> "example.org"). */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

/** A Host header as URL.host writes it (default port dropped), to compare with an Origin. */
function normalHost(host: string, scheme: string): string {
  try {
    return new URL(`${scheme}//${host.trim()}`).host.toLowerCase();
  } catch {
    return '';
  }
}

/** Sets the headers every response carries. */
export function applySecurityHeaders(res: ServerResponse): void {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
}

/** True when the request carries `Content-Type: application/json`. */
export function isJson(req: IncomingMessage): boolean {
  return /^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '');
}
