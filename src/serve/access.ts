// Who may use each service of `colloquy serve`, and protected mode (as Redis has it).
//
//   --access LEVEL                 every service: anyone | login | admin
//   --access files=admin,chat=login  per service; a bare LEVEL in the list sets the rest
//
//   anyone  no identity needed: any client that reaches the port (the browser's Origin check
//           in ./guard.ts still keeps foreign web pages out)
//   login   a proven identity: the page's login cookie on the WebSocket upgrade, or the admin
//           token (CONNECT credentials, or `Authorization: Bearer` on the upgrade)
//   admin   the admin token only (or a page login made with it)
//
// Protected mode: on a loopback address with no --access, every service is `anyone` (the quick
// start: `colloquy get/put/call/chat` need nothing). Anywhere else serve refuses to start until
// --access says who may use it, since files, RPC and chat would otherwise be open to everyone
// who can reach the port. Services not named in a per-service list take the bare level if one
// is given, else `anyone` on loopback and `login` elsewhere.

import type { Audience } from '../apps/service.js';
import { isLoopback } from './guard.js';

const LEVELS: readonly Audience[] = ['anyone', 'login', 'admin'];

export interface AccessPolicy {
  /** The audience of a service by name. */
  audience(service: string): Audience;
  /** One line for the banner, e.g. "chat anyone, files admin". */
  describe(services: readonly string[]): string;
}

export class ProtectedModeError extends Error {
  override name = 'ProtectedModeError';
}

/** The policy for `spec` (undefined: the default) on `host`; throws ProtectedModeError or a parse error. */
export function accessPolicy(host: string, spec: string | undefined, services: readonly string[]): AccessPolicy {
  const loopback = isLoopback(host);
  if (spec === undefined) {
    if (!loopback) {
      throw new ProtectedModeError(
        `protected mode: serve listens on ${host}, beyond this machine, and no access policy says who may use its services ` +
          `(files under --files, RPC, chat). Pass --access login (page logins and the admin token), --access admin ` +
          `(the admin token only), a list such as --access chat=login,files=admin, or --access anyone to open them to everyone who can reach the port.`,
      );
    }
    return fixed(() => 'anyone');
  }
  let rest: Audience = loopback ? 'anyone' : 'login';
  const named = new Map<string, Audience>();
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const [left, right] = part.split('=', 2) as [string, string | undefined];
    const level = (right ?? left) as Audience;
    if (!LEVELS.includes(level))
      throw new Error(`--access: '${right ?? left}' is not a level; use ${LEVELS.join(', ')}`);
    if (right === undefined) {
      rest = level;
      continue;
    }
    if (!services.includes(left))
      throw new Error(`--access: no service '${left}'; this server offers ${services.join(', ')}`);
    named.set(left, level);
  }
  if (named.size === 0 && !spec.split(',').some((p) => LEVELS.includes(p.trim() as Audience)))
    throw new Error('--access takes anyone, login, admin or SERVICE=LEVEL,...');
  return fixed((service) => named.get(service) ?? rest);
}

function fixed(audience: (service: string) => Audience): AccessPolicy {
  return {
    audience,
    describe: (services) => services.map((s) => `${s} ${audience(s)}`).join(', '),
  };
}
