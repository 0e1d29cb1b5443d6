// The page as a newcomer meets it, in Debian's chromium: a second member's fresh join shows the
// welcome and the room's history; the frame ladder is a live SVG sequence diagram (two lifelines,
// one arrow per frame, CONNECT/ACCEPT first, a reload's RESUME drawn); the layout holds at 1280
// and 420 px (no sideways scroll, the status line on one line); a closed tab shows as waiting to
// resume. Screenshots at both widths are kept in test-artifacts/ (gitignored).
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
  'test/browser/page',
  'the page layout and the ladder are NOT being checked in a real browser',
  '(under CI=true this suite runs instead)',
);
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
const WAIT = { timeout: 60_000 }; // generous: the machine is shared, and CI runs suites side by side

describe.skipIf(SKIP)(
  `the page's first contact and ladder (Debian chromium)${SKIP ? ` [SKIPPED: ${CHROMIUM} missing]` : ''}`,
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

    async function enter(name: string, width: number): Promise<{ context: BrowserContext; page: Page }> {
      const context = await (browser as Browser).newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(`${name}: ${e.stack ?? e.message}`));
      await page.goto(node.http, { waitUntil: 'load' });
      await page.locator('#login .about').waitFor(WAIT);
      await page.locator('#login-name').fill(name);
      await page.locator('#login-button').click();
      await page.locator('#status[data-state="established"]').waitFor(WAIT);
      return { context, page };
    }

    /**
     * Waits for `selector` in the ladder; on a timeout the failure says what the page had: its own
     * session, the session its ladder watches, the frames drawn, and the page's errors.
     */
    async function ladderShows(p: Page, selector: string): Promise<void> {
      try {
        await p.locator(selector).first().waitFor(WAIT);
      } catch (e) {
        const seen = (await p.evaluate(
          `({ own: document.getElementById('session-id')?.textContent, watched: document.getElementById('ladder-id')?.textContent, rows: [...document.querySelectorAll('#sessions tbody tr')].map((r) => r.dataset.id + (r.classList.contains('chosen') ? ' (chosen)' : '')), status: document.getElementById('status')?.textContent })`,
        )) as object;
        const frames = (await ladderShape(p)).frames.map((f) => `${f.direction} ${f.label}`);
        throw new Error(
          `${selector} never drawn: page ${JSON.stringify(seen)}, ladder ${JSON.stringify(frames)}, errors ${JSON.stringify(errors)} (${(e as Error).message})`,
        );
      }
    }

    const say = async (p: Page, text: string): Promise<void> => {
      await p.locator('#chat-input').fill(text);
      await p.locator('#chat-send').click();
    };

    interface Shape {
      lifelines: { side: string; x: number }[];
      frames: {
        type: string;
        direction: string;
        n?: string;
        arrows: number;
        x1: number;
        x2: number;
        label: string;
        time: string;
      }[];
      count: number;
      svgWidth: number;
      boxWidth: number;
      pageScroll: number;
      tableFits: boolean;
    }

    /** The ladder's shape, read in the page (the tests' TypeScript has no DOM types: plain JS). */
    const SHAPE = `(() => {
    const svg = document.getElementById('ladder-svg');
    const box = document.getElementById('ladder');
    const lifelines = [...svg.querySelectorAll('line.lifeline')].map((l) => ({ side: l.dataset.side, x: Number(l.getAttribute('x1')) }));
    const frames = [...svg.querySelectorAll('g.frame')].map((g) => {
      const line = g.querySelector('line.arrow');
      return { type: g.dataset.type, direction: g.dataset.direction, n: g.dataset.n, arrows: g.querySelectorAll('line.arrow').length,
        x1: Number(line.getAttribute('x1')), x2: Number(line.getAttribute('x2')),
        label: g.querySelector('text.label')?.textContent ?? '', time: g.querySelector('text.time')?.textContent ?? '' };
    });
    const table = document.getElementById('sessions');
    return { lifelines, frames, count: Number(svg.dataset.frames), svgWidth: svg.getBoundingClientRect().width, boxWidth: box.clientWidth, pageScroll: document.documentElement.scrollWidth, tableFits: table.scrollWidth <= table.parentElement.clientWidth + 1 };
  })()`;
    const ladderShape = (p: Page): Promise<Shape> => p.evaluate(SHAPE) as Promise<Shape>;

    const STATUS = `(() => {
    const line = document.querySelector('.status-line');
    const style = getComputedStyle(line);
    return { height: line.getBoundingClientRect().height, lineHeight: parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2 };
  })()`;

    async function layoutHolds(p: Page, width: number): Promise<void> {
      const shape = await ladderShape(p);
      expect(shape.lifelines.map((l) => l.side)).toEqual(['client', 'server']);
      const [client, server] = shape.lifelines.map((l) => l.x) as [number, number];
      expect(client).toBeLessThan(server);
      expect(shape.frames.length).toBe(shape.count);
      for (const f of shape.frames) {
        expect(f.arrows).toBe(1);
        expect(f.direction === 'in' ? [f.x1, f.x2] : [f.x2, f.x1], `${f.type} ${f.direction}`).toEqual([
          client,
          server,
        ]);
        expect(f.time).toMatch(/^\+\d+\.\d{3}s$/);
      }
      expect(shape.frames.slice(0, 2).map((f) => `${f.direction} ${f.type}`)).toEqual(['in CONNECT', 'out ACCEPT']);
      expect(shape.frames[0]?.time).toBe('+0.000s');
      expect(shape.svgWidth).toBeLessThanOrEqual(shape.boxWidth + 1);
      expect(shape.pageScroll, `the page scrolls sideways at ${width} px`).toBeLessThanOrEqual(width);
      expect(shape.tableFits, `the live table overflows its panel at ${width} px`).toBe(true);
      const status = (await p.evaluate(STATUS)) as { height: number; lineHeight: number };
      expect(status.height, 'the status line wraps').toBeLessThan(2 * status.lineHeight + 12);
    }

    it('welcome and history on a fresh join; the ladder as a sequence diagram at 1280 and 420 px; a reload drawn as RESUME; a closed tab waits to resume', async () => {
      const ada = await enter('ada', 1280);
      await say(ada.page, 'first words');
      await ada.page.locator('#messages li[data-from="ada"]', { hasText: 'first words' }).waitFor(WAIT);

      // Bob's fresh join: the welcome (who is here) and ada's message from before, as history.
      const bob = await enter('bob', 420);
      await bob.page.locator('#messages li.system', { hasText: 'joined #lobby as bob; here: ada' }).waitFor(WAIT);
      await bob.page.locator('#messages li.history[data-from="ada"]', { hasText: 'first words' }).waitFor(WAIT);

      // Ada's own ladder (her session is chosen by default): CONNECT/ACCEPT, then her data both ways.
      // The page opens the ladder once its session list has been read (every second): a line said
      // before the server taps the session is not in it. The tap begins with CONNECT and ACCEPT.
      await ladderShows(ada.page, '#ladder-svg g.frame[data-direction="out"][data-type="ACCEPT"]');
      await say(ada.page, 'traced');
      await ladderShows(ada.page, '#ladder-svg g.frame[data-direction="in"][data-type="DATA"]');
      await ladderShows(ada.page, '#ladder-svg g.frame[data-direction="out"][data-type="DATA"]');
      await layoutHolds(ada.page, 1280);
      const labels = (await ladderShape(ada.page)).frames.map((f) => f.label);
      expect(labels.some((l) => /^#\d+ DATA /.test(l))).toBe(true);
      expect(labels[1]).toMatch(/^ACCEPT .*tokens=\[/);
      mkdirSync(ARTIFACTS, { recursive: true });
      await ada.page.screenshot({ path: join(ARTIFACTS, 'page-1280.png'), fullPage: true });

      // Bob at 420 px reloads: the same session resumes, and his ladder shows the RESUME.
      // His page watches his own session once the live view has listed it: frames before that are not drawn.
      await bob.page.locator('#ladder-svg g.frame[data-type="ACCEPT"]').waitFor(WAIT);
      await say(bob.page, 'before the reload');
      const bobId = (await bob.page.locator('#session-id').textContent()) ?? '';
      await bob.page.locator('#ladder-svg g.frame[data-type="DATA"]').first().waitFor(WAIT);
      await bob.page.reload({ waitUntil: 'load' });
      await bob.page.locator('#messages li.system', { hasText: 'resumed session' }).waitFor(WAIT);
      expect(await bob.page.locator('#session-id').textContent()).toBe(bobId);
      await bob.page.locator('#ladder-svg g.frame.resume[data-type="RESUME"]').waitFor(WAIT);
      await layoutHolds(bob.page, 420);
      await bob.page.screenshot({ path: join(ARTIFACTS, 'page-420.png'), fullPage: true });

      // Bob closes his tab: a new tab of his login (same cookie) shows that session waiting to
      // resume. Ada's live view never lists it: it is bob's (docs/security.md, scoped live view).
      await bob.page.close();
      const again = await bob.context.newPage();
      again.on('pageerror', (e) => errors.push(`bob again: ${e.stack ?? e.message}`));
      await again.goto(node.http, { waitUntil: 'load' });
      await again
        .locator(`#sessions tbody tr.waiting[data-id="${bobId}"]`, { hasText: 'waiting to resume' })
        .waitFor(WAIT);
      await again.screenshot({ path: join(ARTIFACTS, 'page-waiting.png'), fullPage: true });
      expect(await ada.page.locator(`#sessions tbody tr[data-id="${bobId}"]`).count()).toBe(0);

      expect(errors).toEqual([]);
      await ada.context.close();
      await bob.context.close();
    }, 180_000);
  },
);
