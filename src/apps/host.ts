// ServiceHost: routes each session a Server accepts to the service its hello names.
//
//   const host = new ServiceHost([chat, rpc, files]);
//   const server = await listen({ tcp: { port: 0 }, authenticate: host.authenticate });
//   host.attach(server);
//
// `authenticate` decodes the hello (src/apps/service.ts), refuses unknown services with the
// list of those offered, lets an optional identity hook name the principal, and runs the
// service's own `validate`. `attach` opens every session the server emits in its service:
// sessions authenticated here are new; any other (restored from the store after another node
// died) is opened with `restored: true`.

import type { AuthRequest, Server } from '../server/server.js';
import { Refusal } from '../server/server.js';
import type { Session } from '../driver/session.js';
import { decodeHello } from './service.js';
import type { Principal, Service, ServiceHello } from './service.js';

export interface ServiceHostOptions {
  /**
   * Who the client is, from its credentials (or the HTTP request behind a WebSocket upgrade):
   * a name, undefined for anonymous, or throw a Refusal. Default: everyone is anonymous.
   */
  identify?(request: AuthRequest, hello: ServiceHello): string | undefined | Promise<string | undefined>;
}

export class ServiceHost {
  private readonly services = new Map<string, Service>();
  private readonly issued = new WeakSet<Principal>();

  constructor(services: readonly Service[], private readonly options: ServiceHostOptions = {}) {
    for (const s of services) {
      if (this.services.has(s.name)) throw new Error(`two services are named '${s.name}'`);
      this.services.set(s.name, s);
    }
  }

  get names(): string[] { return [...this.services.keys()]; }

  service(name: string): Service | undefined { return this.services.get(name); }

  /** The server's `authenticate` hook. */
  readonly authenticate = async (request: AuthRequest): Promise<Principal> => {
    const hello = decodeHello(request.userData);
    const service = this.services.get(hello.service);
    if (!service) throw new Refusal(`no service '${hello.service}' here; this server offers ${this.names.join(', ') || 'none'}`, 'rejected');
    const name = this.options.identify ? await this.options.identify(request, hello) : undefined;
    const principal: Principal = name === undefined ? { service: service.name, hello } : { service: service.name, hello, name };
    await service.validate?.(hello, principal);
    this.issued.add(principal);
    return principal;
  };

  /** Opens each session `server` emits in its service. Returns a function that stops listening. */
  attach(server: Server): () => void {
    const onSession = (session: Session): void => this.open(session);
    server.on('session', onSession);
    return () => server.off('session', onSession);
  }

  open(session: Session): void {
    const principal = session.principal as Principal | undefined;
    const service = principal && typeof principal === 'object' ? this.services.get(principal.service) : undefined;
    if (!principal || !service) {
      session.abort(`no service for this session (${principal && typeof principal === 'object' ? `'${String(principal.service)}'` : 'no principal'})`);
      return;
    }
    service.open(session, principal, { restored: !this.issued.has(principal) });
  }

  async close(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.close?.()));
  }
}
