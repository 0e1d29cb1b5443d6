import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { listen } from '../../src/server/server.js';
import type { Server } from '../../src/server/server.js';
import { ServiceHost } from '../../src/apps/host.js';
import { encodeHello, LocalBus } from '../../src/apps/service.js';
import type { Principal, Service } from '../../src/apps/service.js';

const echo: Service = {
  name: 'echo',
  validate(hello) { if (hello['bad']) throw new Error('bad hello'); },
  open(session, principal) {
    void (async () => {
      for await (const m of session) await session.send(`${(principal as Principal).hello['tag'] as string}:${new TextDecoder().decode(m)}`);
    })().catch(() => {});
  },
};

let server: Server | undefined;
afterEach(async () => { await server?.destroy(); server = undefined; });

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
    await expect(connect(url, { userData: encodeHello({ service: 'nope' }), reconnect: false })).rejects.toThrow(/no service 'nope' here; this server offers echo/);
  });

  it('refuses a hello that is not JSON', async () => {
    const url = await start();
    await expect(connect(url, { userData: new TextEncoder().encode('{'), reconnect: false })).rejects.toThrow(/not UTF-8 JSON/);
  });
});

describe('LocalBus', () => {
  it('delivers to subscribers of the topic only, after publish returns, until unsubscribed', async () => {
    const bus = new LocalBus();
    const got: string[] = [];
    const off = await bus.subscribe('a', (m) => got.push(new TextDecoder().decode(m)));
    await bus.subscribe('b', () => got.push('wrong topic'));
    const sent = bus.publish('a', new TextEncoder().encode('1'));
    expect(got).toEqual([]); // never inside publish
    await sent;
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['1']);
    await off();
    await bus.publish('a', new TextEncoder().encode('2'));
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['1']);
    await bus.close();
    await expect(bus.publish('a', new Uint8Array(0))).rejects.toThrow(/closed/);
  });
});
