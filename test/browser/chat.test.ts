// The web page of `colloquy serve` in Debian's chromium (playwright-core, never a downloaded
// browser): two people chat, the server cuts one page's transport during a network outage, a
// message typed during the outage arrives exactly once after the resume, a page that navigates
// away and comes back (and one that reloads) resumes the same session with nothing lost or
// repeated, and the live view draws the frame ladder. A screenshot is kept in
// test-artifacts/chat.png.
//
// The page is the real build (scripts/build-web.ts, into a temporary directory) served by a real
// `colloquy serve` process. The outage is made in the page: a WebSocket created while
// `window.__outage` is set dials a closed port instead (the browser's own WebSocket either way).
//
// Without /usr/bin/chromium the suite is skipped with a loud notice, except under CI.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServeNode } from '../support/serve.js';
import { servePage } from '../support/serve-page.js';
import { CHROMIUM, HAVE_CHROMIUM, launchChromium, skipWithoutChromium } from '../support/chromium.js';

const SKIP = skipWithoutChromium(
  'test/browser/chat',
  'the web page is NOT being checked in a real browser',
  '(under CI=true this suite runs instead)',
);

const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
/** Waits in the page: generous, the machine is shared. */
const WAIT = { timeout: 30_000 };

// Runs before the page's own scripts: records errors and adds the outage switch.
const INIT = `
  window.pageErrors = [];
  addEventListener('error', (e) => pageErrors.push('error: ' + (e.error && e.error.stack || e.message)));
  addEventListener('unhandledrejection', (e) => pageErrors.push('unhandled rejection: ' + (e.reason && e.reason.stack || String(e.reason))));
  window.__outage = false;
  const NativeWebSocket = WebSocket;
  window.WebSocket = class extends NativeWebSocket {
    constructor(url, protocols) { super(window.__outage ? 'ws://127.0.0.1:1/session' : url, protocols); }
  };
`;

interface Person {
  context: BrowserContext;
  page: Page;
}

describe.skipIf(SKIP)(
  `the web page in a real browser (Debian chromium)${SKIP ? ` [SKIPPED: ${CHROMIUM} missing]` : ''}`,
  () => {
    let node: ServeNode;
    let browser: Browser | undefined;
    const errors: string[] = [];

    beforeAll(async () => {
      if (!HAVE_CHROMIUM) throw new Error(`CI is set but ${CHROMIUM} is missing: install Debian's chromium package`);
      node = await servePage();
      browser = await launchChromium();
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await node?.stop();
    });

    async function enter(name: string): Promise<Person> {
      const context = await (browser as Browser).newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      await page.addInitScript(INIT);
      page.on('pageerror', (e) => errors.push(`${name}: ${e.stack ?? e.message}`));
      await page.goto(node.http, { waitUntil: 'load' });
      await page.locator('#login-name').fill(name);
      await page.locator('#login-button').click();
      await page.locator('#status[data-state="established"]').waitFor(WAIT);
      return { context, page };
    }

    const say = async (p: Page, text: string): Promise<void> => {
      await p.locator('#chat-input').fill(text);
      await p.locator('#chat-send').click();
    };
    const lines = (p: Page, from: string, text: string) =>
      p.locator(`#messages li[data-from="${from}"]`, { hasText: text });
    const sessionId = async (p: Page): Promise<string> => (await p.locator('#session-id').textContent()) ?? '';

    it('chats, survives a cut during an outage and a reload, exactly once, and draws the ladder', async () => {
      const ada = await enter('ada');
      const bob = await enter('bob');

      await say(ada.page, 'hello from ada');
      await lines(bob.page, 'ada', 'hello from ada').waitFor(WAIT);
      await say(bob.page, 'hi ada');
      await lines(ada.page, 'bob', 'hi ada').waitFor(WAIT);

      // Outage: bob's network fails and the server cuts his transport. He types meanwhile.
      const bobId = await sessionId(bob.page);
      expect(bobId).toMatch(/^[0-9a-f]{32}$/);
      await bob.page.evaluate(() => {
        (globalThis as unknown as { __outage: boolean }).__outage = true;
      });
      const cut = await fetch(new URL(`/api/sessions/${bobId}/cut`, node.http), {
        method: 'POST',
        headers: { authorization: `Bearer ${node.adminToken}` },
      });
      expect(await cut.json()).toEqual({ id: bobId, cut: true });
      await bob.page.locator('#status[data-state="interrupted"]').waitFor(WAIT);
      await say(bob.page, 'typed during the outage');
      await bob.page.evaluate(() => {
        (globalThis as unknown as { __outage: boolean }).__outage = false;
      });
      await bob.page.locator('#status[data-state="resumed"]').waitFor(WAIT);
      await lines(ada.page, 'bob', 'typed during the outage').waitFor(WAIT);
      // Anything repeated would arrive before what bob sends next, in session order.
      await say(bob.page, 'after the outage');
      await lines(ada.page, 'bob', 'after the outage').waitFor(WAIT);
      expect(await lines(ada.page, 'bob', 'typed during the outage').count()).toBe(1);
      expect(await lines(bob.page, 'bob', 'typed during the outage').count()).toBe(1);
      expect(await sessionId(bob.page)).toBe(bobId);

      // Bob's tab leaves the page; ada speaks while he is away; he comes back: same session,
      // the message he missed arrives once.
      await bob.page.goto('about:blank');
      await say(ada.page, 'while bob was away');
      await lines(ada.page, 'ada', 'while bob was away').waitFor(WAIT);
      await bob.page.goto(node.http, { waitUntil: 'load' });
      await bob.page.locator('#messages li.system', { hasText: 'resumed session' }).waitFor(WAIT);
      await lines(bob.page, 'ada', 'while bob was away').waitFor(WAIT);
      expect(await sessionId(bob.page)).toBe(bobId);

      // A plain reload resumes too, and the chat goes on both ways.
      await bob.page.reload({ waitUntil: 'load' });
      await bob.page.locator('#messages li.system', { hasText: 'resumed session' }).nth(1).waitFor(WAIT);
      expect(await sessionId(bob.page)).toBe(bobId);
      await say(bob.page, 'back after the reload');
      await lines(ada.page, 'bob', 'back after the reload').waitFor(WAIT);
      await say(ada.page, 'welcome back');
      await lines(bob.page, 'ada', 'welcome back').waitFor(WAIT);
      for (const [from, text] of [
        ['ada', 'hello from ada'],
        ['ada', 'while bob was away'],
        ['bob', 'typed during the outage'],
        ['bob', 'after the outage'],
      ] as const) {
        expect(await lines(bob.page, from, text).count(), `${from}: ${text} on bob's page`).toBe(1);
      }

      // The live view: ada's own session only (bob's is his: docs/security.md, scoped live view);
      // her ladder shows her frames in both directions.
      await ada.page.locator(`#sessions tbody tr[data-id="${await sessionId(ada.page)}"]`).waitFor(WAIT);
      expect(await ada.page.locator(`#sessions tbody tr[data-id="${bobId}"]`).count()).toBe(0);
      await say(ada.page, 'traced');
      await ada.page.locator('#ladder-svg g.frame[data-direction="in"][data-type="DATA"]').first().waitFor(WAIT);
      await ada.page.locator('#ladder-svg g.frame[data-direction="out"][data-type="DATA"]').first().waitFor(WAIT);
      mkdirSync(ARTIFACTS, { recursive: true });
      await ada.page.screenshot({ path: join(ARTIFACTS, 'chat.png'), fullPage: true });

      const pageErrors = [
        ...(await ada.page.evaluate(() => (globalThis as unknown as { pageErrors: string[] }).pageErrors)),
        ...(await bob.page.evaluate(() => (globalThis as unknown as { pageErrors: string[] }).pageErrors)),
      ];
      expect([...errors, ...pageErrors]).toEqual([]);

      // Logging out releases the chat session and shows the login form; a bad name is refused.
      await ada.page.locator('#logout').click();
      await ada.page.locator('#login-form').waitFor(WAIT);
      await ada.page.locator('#login-name').fill('no spaces allowed');
      await ada.page.locator('#login-button').click();
      await ada.page.locator('#login-error', { hasText: 'the name must be' }).waitFor(WAIT);
      await lines(bob.page, 'ada', 'welcome back').waitFor(WAIT);
      await bob.page.locator('#messages li.system', { hasText: 'ada left' }).waitFor(WAIT);
      await ada.context.close();
      await bob.context.close();
    }, 180_000);
  },
);
