// Debian's chromium for the browser suites (test/browser/), driven by playwright-core: no
// browser is ever downloaded.
//
// Theory of operation
//   The suites use /usr/bin/chromium when it exists. Without it a suite is skipped with a loud
//   notice on stderr, except under CI (CI set to anything but '', '0' or 'false'), where it runs
//   and its beforeAll fails on the missing browser, so CI never passes without checking the
//   browser. `launchChromium` starts it headless with the flags the suites need on a shared,
//   sandbox-less machine (no GPU, no background traffic, no QUIC); playwright gives it a fresh
//   temporary user-data dir and removes it on close.

import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const CI = !['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase());
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/**
 * True when the suite is to be skipped (no chromium and not under CI); then warns, naming the
 * suite, what goes unchecked ("the client is NOT being checked ..."), and a note on CI after
 * the install hint.
 */
export function skipWithoutChromium(suite: string, unchecked: string, ciNote: string): boolean {
  const skip = !HAVE_CHROMIUM && !CI;
  if (skip) {
    console.warn(
      `\n${'!'.repeat(100)}\n!!! ${suite} SKIPPED: ${CHROMIUM} is missing, so ${unchecked}.\n` +
        `!!! Install it with: apt-get install -y chromium   ${ciNote}\n${'!'.repeat(100)}\n`,
    );
  }
  return skip;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}
