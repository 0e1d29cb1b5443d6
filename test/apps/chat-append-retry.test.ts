// The room log's append rides out an unreachable store for as long as a durable session's persist
// does: RoomLogOptions.appendRetryMs (the library option) and, in `colloquy serve`, the same
// --persist-retry-ms that bounds the persist (ServiceContext.persistRetryMs). A store whose room
// log writes fail as unreachable (ERR_STORE_UNAVAILABLE, as during a Redis failover): the
// member's line is held and tried again for the bound, then the member is told, with the bound.

import { afterEach, describe, expect, it } from 'vitest';
import { ChatClient } from '../../src/apps/chat-client.js';
import { chatService } from '../../src/apps/chat.js';
import type { ChatServiceOptions } from '../../src/apps/chat.js';
import { APPEND_RETRY_MS } from '../../src/apps/chat-log.js';
import { ServiceHost } from '../../src/apps/host.js';
import type { Service } from '../../src/apps/service.js';
import { LocalBus } from '../../src/cluster/bus.js';
import { SessionError } from '../../src/engine/errors.js';
import { DEFAULT_PERSIST_RETRY_MS } from '../../src/server/persist-retry.js';
import { listen } from '../../src/server/server.js';
import { serveServices } from '../../src/serve/services.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { SessionStore } from '../../src/store/store.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
});

/** `store`, whose writes to room logs fail as unreachable once `down()` was called. */
function failing(store: SessionStore): { store: SessionStore; down(): void; tries: () => number } {
  let down = false;
  let tries = 0;
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'compareAndSet' || prop === 'set')
        return (key: string, ...rest: unknown[]) => {
          if (down && key.includes(':log:')) {
            tries++;
            return Promise.reject(new SessionError('ERR_STORE_UNAVAILABLE', 'the store is down (test)', 'local'));
          }
          return (v as (...a: unknown[]) => unknown).call(target, key, ...rest);
        };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return {
    store: wrapped,
    down: () => {
      down = true;
    },
    tries: () => tries,
  };
}

async function waitFor(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A chat node with `services` on a store; ada says a line once the log's writes fail; resolves with her notice. */
async function lineThroughOutage(
  services: (store: SessionStore) => Service[],
): Promise<{ notice: { code: string; message: string }; tries: number }> {
  const backing = failing(new MemoryStore());
  const host = new ServiceHost(services(backing.store));
  const server = await listen({ tcp: { port: 0 }, authenticate: host.authenticate, heartbeatMs: 0 });
  host.attach(server);
  closers.push(async () => {
    await server.destroy();
    await host.close();
  });
  const ada = await ChatClient.connect(`tcp://127.0.0.1:${server.addresses.tcp}`, {
    nick: 'ada',
    room: 'outage',
    heartbeatMs: 0,
  });
  closers.push(async () => ada.abort());
  const notices: { code: string; message: string }[] = [];
  ada.on('notice', (n) => notices.push(n));
  const heard: string[] = [];
  ada.on('message', (m) => {
    if (!m.history) heard.push(m.text);
  });
  await ada.send('before');
  await waitFor(() => heard.includes('before'), "'before' logged and back");
  backing.down();
  await ada.send('during');
  await waitFor(() => notices.some((n) => n.code === 'ERR_STORE_UNAVAILABLE'), "ada's notice");
  return {
    notice: notices.find((n) => n.code === 'ERR_STORE_UNAVAILABLE') as { code: string; message: string },
    tries: backing.tries(),
  };
}

describe("the room log's append retry follows the persist retry", () => {
  it('defaults to the persist default (30 s)', () => {
    expect(APPEND_RETRY_MS).toBe(DEFAULT_PERSIST_RETRY_MS);
  });

  it('chatService({ shared: { appendRetryMs } }): the line is tried for that long, then its sender is told', async () => {
    const bus = new LocalBus();
    const options = (store: SessionStore): ChatServiceOptions => ({
      bus,
      presenceIntervalMs: 60_000,
      shared: { store, appendRetryMs: 400 },
    });
    const { notice, tries } = await lineThroughOutage((store) => [chatService(options(store))]);
    expect(notice.message).toMatch(
      /^your message "during" was not sent: .*unreachable for 400 ms \(persistRetryMs, \d+ tries\)/,
    );
    expect(tries).toBeGreaterThan(1);
  });

  it("serve's services: the chat takes --persist-retry-ms (ServiceContext.persistRetryMs)", async () => {
    const bus = new LocalBus();
    const { notice } = await lineThroughOutage((store) =>
      serveServices({ files: '/nonexistent-colloquy-files', bus, store, shared: true, persistRetryMs: 300 }).filter(
        (s) => s.name === 'chat',
      ),
    );
    expect(notice.message).toMatch(/unreachable for 300 ms \(persistRetryMs/);
  });
});
