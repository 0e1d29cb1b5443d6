import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { ServiceHost } from '../../src/apps/host.js';
import { encodeHello } from '../../src/apps/service.js';
import type { Principal, Service } from '../../src/apps/service.js';

const echo: Service = {
  name: 'echo',
  validate(hello) {
    if (hello['bad']) throw new Error('bad hello');
  },
  open(session, principal) {
    void (async () => {
      for await (const m of session)
        await session.send(`${(principal as Principal).hello['tag'] as string}:${new TextDecoder().decode(m)}`);
    })().catch(() => {});
  },
};

let server: Server | undefined;
afterEach(async () => {
  await server?.destroy();
  server = undefined;
});

async function start(): Promise<string> {
  const host = new ServiceHost([echo]);
  server = await listen({ tcp: { port: 0 }, authenticate: host.authenticate });
  host.attach(server);
  return `tcp://127.0.0.1:${server.addresses.tcp}`;
}

describe('ServiceHost', () => {
  it('routes a session to the service its hello names', async () => {
    const url = await start();
    const c = await connect(url, { userData: encodeHello({ service: 'echo', tag: 't' }) });
    await c.send('hi');
    const r = await c.read();
    expect(new TextDecoder().decode(r.value)).toBe('t:hi');
    await c.release();
  });

  it('refuses an unknown service, naming those offered', async () => {
    const url = await start();
    await expect(connect(url, { userData: encodeHello({ service: 'nope' }), reconnect: false })).rejects.toThrow(
      /no service 'nope' here; this server offers echo/,
    );
  });

  it('refuses a hello that is not JSON', async () => {
    const url = await start();
    await expect(connect(url, { userData: new TextEncoder().encode('{'), reconnect: false })).rejects.toThrow(
      /not UTF-8 JSON/,
    );
  });
});
