// ServiceHost: routes each session a Server accepts to the service its hello names.
//
//   const host = new ServiceHost([chat, rpc, files]);
//   const server = await listen({ tcp: { port: 0 }, authenticate: host.authenticate });
//   host.attach(server);
//
// `authenticate` decodes the hello (src/apps/service.ts), refuses unknown services with the
// list of those offered, lets an optional identity hook name the principal, applies the access
// policy (each service's audience: anyone, login or admin; a session without the identity the
// audience needs is refused with ERR_REFUSED 'unauthorized' saying what to present), and runs the
// service's own `validate`. `attach` opens every session the server emits in its service:
// sessions authenticated here are new; any other (restored from the store after another node
// died) is opened with `restored: true`.

import type { AuthRequest, Server } from '../server/server.js';
import { Refusal } from '../server/server.js';
import type { Session } from '../driver/session.js';
import { decodeHello } from './service.js';
import type { Audience, Identified, Principal, Service, ServiceHello } from './service.js';

export interface ServiceHostOptions {
  /**
   * Who the client is, from its credentials (or the HTTP request behind a WebSocket upgrade):
   * a name, undefined for anonymous, or throw a Refusal. Default: everyone is anonymous.
   */
  identify?(
    request: AuthRequest,
    hello: ServiceHello,
  ): string | Identified | undefined | Promise<string | Identified | undefined>;
  /** Who may use each service (by name). Default: anyone, for every service. */
  audience?(service: string): Audience;
  /** What a refused client is told to present to be let in (appended to the refusal). */
  howToIdentify?: string;
}

export class ServiceHost {
  private readonly services = new Map<string, Service>();
  private readonly issued = new WeakSet<Principal>();

  constructor(
    services: readonly Service[],
    private readonly options: ServiceHostOptions = {},
  ) {
    for (const s of services) {
      if (this.services.has(s.name)) throw new Error(`two services are named '${s.name}'`);
      this.services.set(s.name, s);
    }
  }

  get names(): string[] {
    return [...this.services.keys()];
  }

  service(name: string): Service | undefined {
    return this.services.get(name);
  }

  /** The server's `authenticate` hook. */
  readonly authenticate = async (request: AuthRequest): Promise<Principal> => {
    const hello = decodeHello(request.userData);
    const service = this.services.get(hello.service);
    if (!service)
      throw new Refusal(
        `no service '${hello.service}' here; this server offers ${this.names.join(', ') || 'none'}`,
        'rejected',
      );
    const who = this.options.identify ? await this.options.identify(request, hello) : undefined;
    const identity: Identified | undefined = typeof who === 'string' ? { id: who, name: who } : who;
    this.admit(service.name, identity);
    const principal: Principal =
      identity === undefined
        ? { service: service.name, hello }
        : {
            service: service.name,
            hello,
            name: identity.name,
            ...(identity.id !== identity.name ? { id: identity.id } : {}),
            ...(identity.admin ? { admin: true } : {}),
          };
    await service.validate?.(hello, principal);
    this.issued.add(principal);
    return principal;
  };

  /** Refuses a session whose identity is not in the service's audience. */
  private admit(service: string, identity: Identified | undefined): void {
    const audience = this.options.audience?.(service) ?? 'anyone';
    if (audience === 'anyone' || (audience === 'login' && identity !== undefined) || identity?.admin === true) return;
    const who = audience === 'admin' ? 'the admin only' : 'logins only';
    throw new Refusal(
      `the ${service} service here is for ${who}${this.options.howToIdentify ? `: ${this.options.howToIdentify}` : ''}`,
      'unauthorized',
    );
  }

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
      session.abort(
        `no service for this session (${principal && typeof principal === 'object' ? `'${String(principal.service)}'` : 'no principal'})`,
      );
      return;
    }
    service.open(session, principal, { restored: !this.issued.has(principal) });
  }

  async close(): Promise<void> {
    await Promise.all([...this.services.values()].map((s) => s.close?.()));
  }
}
