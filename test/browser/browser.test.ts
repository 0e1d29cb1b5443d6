// The client in a real browser over its native WebSocket (issue: "the client also runs on a
// browser's native WebSocket").
//
// The same src/client/connect.ts, bundled for the browser by scripts/bundle-browser.ts, is
// loaded into Debian's chromium (driven by playwright-core; no browser is ever downloaded) from
// a tiny loopback HTTP server. The page dials a Colloquy server's ws:// endpoint, sends 100
// messages and reads the server's echoes; the server cuts the transport after echoing the 50th
// message, and the page's client must redial on a new native WebSocket, resume, and get all 100
// echoes exactly once and in order, then release the session.
//
// Without /usr/bin/chromium the suite is skipped with a loud notice, except under CI, where it
// runs (and fails if the browser is missing: .ci/run installs Debian's chromium package).

import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleBrowserClient } from '../../scripts/bundle-browser.js';
import type { connect } from '../../src/client/connect.js';
import type { Session } from '../../src/driver/session.js';
import type { SessionError } from '../../src/engine/errors.js';
import { listen, type Server } from '../../src/server/server.js';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium, skipWithoutChromium } from '../support/chromium.js';

const SKIP = skipWithoutChromium(
  'test/browser',
  'the client is NOT being checked in a real browser',
  '(under CI=true this suite runs instead, and .ci/run installs it)',
);

const MESSAGES = 100;
const CUT_AFTER = 50;

// A classic script runs before the module, so its listeners see whatever the bundle does. The
// WebSocket subclass only counts constructions: every socket is still the browser's own.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Colloquy in a browser</title>
<link rel="icon" href="data:,">
<script>
  window.pageErrors = [];
  addEventListener('error', (e) => pageErrors.push('error: ' + (e.error && e.error.stack || e.message)));
  addEventListener('unhandledrejection', (e) => pageErrors.push('unhandled rejection: ' + (e.reason && e.reason.stack || String(e.reason))));
  const NativeWebSocket = WebSocket;
  window.webSocketsOpened = 0;
  window.WebSocket = class extends NativeWebSocket {
    constructor(...args) { super(...args); window.webSocketsOpened++; }
  };
</script>
<script type="module">
  import { connect } from '/colloquy.js';
  window.colloquy = { connect };
</script>
`;

/** What the page sees of itself; the page has these globals (set by PAGE). */
interface PageGlobals {
  colloquy: { connect: typeof connect };
  pageErrors: string[];
  webSocketsOpened: number;
}

function serveHttp(routes: Record<string, { type: string; body: string }>): Promise<HttpServer> {
  const http = createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (!route) {
      res.writeHead(404, { connection: 'close' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': route.type, 'cache-control': 'no-store' }).end(route.body);
  });
  return new Promise((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => {
      http.off('error', reject);
      resolve(http);
    });
  });
}

const index = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0);

describe.skipIf(SKIP)(
  `the client in a real browser (Debian chromium, native WebSocket)${SKIP ? ` [SKIPPED: ${CHROMIUM} missing]` : ''}`,
  () => {
    let http: HttpServer | undefined;
    let browser: Browser | undefined;
    let page: Page;
    let base: string;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      if (!HAVE_CHROMIUM)
        throw new Error(`CI is set but ${CHROMIUM} is missing: .ci/run should have run apt-get install -y chromium`);
      const bundle = await bundleBrowserClient();
      http = await serveHttp({
        '/': { type: 'text/html; charset=utf-8', body: PAGE },
        '/colloquy.js': { type: 'text/javascript; charset=utf-8', body: bundle },
      });
      base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      // launchChromium() gives the browser a fresh temporary user-data dir and removes it on close.
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.stack ?? e.message}`));
      // Module scripts run before 'load', so the bundle has loaded (or failed) when goto returns.
      await page.goto(`${base}/`, { waitUntil: 'load' });
      const loaded = await page.evaluate(
        () => typeof (globalThis as unknown as Partial<PageGlobals>).colloquy?.connect,
      );
      expect(loaded, `the bundle did not load in the page: ${pageErrors.join('\n')}`).toBe('function');
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      if (http) {
        const closing = new Promise((resolve) => http?.close(resolve));
        http.closeAllConnections();
        await closing;
      }
    });

    it('exchanges 100 messages with a server over ws://, resumes after a server-side cut, loses and repeats nothing, and releases', async () => {
      const server: Server = await listen({ ws: { port: 0, path: '/session' }, heartbeatMs: 0 });
      try {
        // The server echoes every message; after echoing CUT_AFTER of them it destroys the transport.
        const received: number[] = [];
        const sessions: Session[] = [];
        let cuts = 0;
        let served!: Promise<void>;
        const closed = new Promise<{ error?: SessionError }>((resolve) => {
          server.on('session', (session) => {
            sessions.push(session);
            session.on('closed', ({ error }) => resolve({ error }));
            served = (async () => {
              for await (const m of session) {
                received.push(index(m));
                await session.send(m.slice());
                if (received.length === CUT_AFTER) {
                  cuts++;
                  session.driver.attached?.destroy();
                }
              }
            })();
            served.catch(() => {}); // awaited (and so reported) below
          });
        });

        const url = `ws://127.0.0.1:${server.addresses.ws}/session`;
        const result = await page.evaluate(
          async ({ url, n }) => {
            const g = globalThis as unknown as PageGlobals;
            const before = g.webSocketsOpened;
            const client = await g.colloquy.connect(url, {
              heartbeatMs: 0,
              reconnect: { initialDelayMs: 5, maxDelayMs: 50 },
            });
            const events: string[] = [];
            client.on('interrupted', () => events.push('interrupted'));
            client.on('resumed', ({ replayed }) => events.push(`resumed(${replayed})`));
            const message = (i: number): Uint8Array => {
              const b = new Uint8Array(64);
              new DataView(b.buffer).setUint32(0, i);
              return b;
            };
            const receiving = (async () => {
              const got: number[] = [];
              for await (const m of client) {
                got.push(new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0));
                if (got.length === n) break;
              }
              return got;
            })();
            for (let i = 0; i < n; i++) await client.send(message(i));
            const echoes = await receiving;
            const transportKind = client.driver.attached?.kind;
            const id = client.id;
            const released = await client.release();
            return {
              id,
              echoes,
              events,
              transportKind,
              released,
              state: client.state,
              closed: client.closed,
              sockets: g.webSocketsOpened - before,
            };
          },
          { url, n: MESSAGES },
        );

        const { error } = await closed;
        await served;
        const inPage = await page.evaluate(() => (globalThis as unknown as PageGlobals).pageErrors);
        const context = JSON.stringify(
          { result, received: received.length, errors: [...pageErrors, ...inPage] },
          null,
          1,
        );

        const all = Array.from({ length: MESSAGES }, (_, i) => i);
        expect(result.echoes, context).toEqual(all);
        expect(received, context).toEqual(all);
        expect(cuts).toBe(1);
        expect(result.events, context).toContain('interrupted');
        expect(
          result.events.some((e) => e.startsWith('resumed')),
          context,
        ).toBe(true);
        // One session throughout, carried by the browser's native WebSocket: a second socket after the cut.
        expect(sessions).toHaveLength(1);
        expect(result.id).toBe(sessions[0]?.id);
        expect(result.transportKind).toBe('ws');
        expect(result.sockets, context).toBeGreaterThanOrEqual(2);
        // release() completed both ways.
        expect(result.released).toBe(true);
        expect(result.state).toBe('closed');
        expect(result.closed).toBe(true);
        expect(error).toBeUndefined();
        expect(sessions[0]?.closed).toBe(true);
        expect([...pageErrors, ...inPage]).toEqual([]);
      } finally {
        await server.destroy();
      }
    });

    it('rejects Node-only transports in the browser with ERR_CONNECT_FAILED (the bundle stubs node:*)', async () => {
      const outcome = await page.evaluate(async () => {
        const g = globalThis as unknown as PageGlobals;
        try {
          await g.colloquy.connect('tcp://127.0.0.1:9', { reconnect: false });
          return { code: 'connected', message: '' };
        } catch (e) {
          const err = e as { code?: string; message?: string };
          return { code: err.code, message: err.message ?? '' };
        }
      });
      expect(outcome.code).toBe('ERR_CONNECT_FAILED');
      expect(outcome.message).toContain('node:net is not available in a browser');
    });
  },
);
