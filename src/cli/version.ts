// The version `colloquy --version` prints, read from package.json at run time so it can never
// drift from the published package.
//
// package.json sits two levels above this module both in the source tree (src/cli/version.ts,
// run through tsx) and in the build (dist/cli/version.js), so one relative URL serves both.

import { readFileSync } from 'node:fs';

const packageJsonUrl = new URL('../../package.json', import.meta.url);

export function readVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(packageJsonUrl, 'utf8'));
  const version = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
  if (typeof version !== 'string') throw new Error(`no version field in ${packageJsonUrl.pathname}`);
  return version;
}
