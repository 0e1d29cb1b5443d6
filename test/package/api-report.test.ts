// The public surface, pinned: api/report.json lists every name each entry point exports (with its
// kind) and each exported class's public members, generated from the built .d.ts by
// scripts/api-report.ts. This test builds the same report from the packed package a user installs
// and fails on any difference, so a name, a kind or a member changes only on purpose: regenerate
// with `npm run build && npm run api` and commit api/report.json.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiReport, formatReport, REPORT_PATH, type ApiReport } from '../../scripts/api-report.js';
import { packedPackage, REPO_ROOT } from '../support/packed-package.js';

describe('the API report', () => {
  let report: ApiReport;

  it("matches the packed package's declarations", async () => {
    const { dir } = await packedPackage();
    report = apiReport(join(dir, 'node_modules', 'colloquy'));
    const checkedIn = readFileSync(join(REPO_ROOT, REPORT_PATH), 'utf8');
    expect(
      formatReport(report),
      `${REPORT_PATH} is out of date: if the surface change is meant, run \`npm run build && npm run api\` and commit ${REPORT_PATH}`,
    ).toBe(checkedIn);
  }, 600_000);

  it('keeps the root small and the internals out of it', () => {
    const root = report.entries.colloquy;
    expect(root).toBeDefined();
    const values = Object.entries(root!.exports)
      .filter(([, kind]) => kind !== 'interface' && kind !== 'type')
      .map(([name]) => name);
    expect(values.length).toBeLessThanOrEqual(25);
    for (const name of [
      'connect',
      'listen',
      'Session',
      'Server',
      'MemoryStore',
      'RedisStore',
      'SessionError',
      'ColloquyError',
      'ERROR_CODES',
    ])
      expect(values).toContain(name);
    for (const name of ['SessionMachine', 'WireSession', 'EMPTY', 'nextState', 'codec', 'AbortFrame'])
      expect(root!.exports).not.toHaveProperty(name);
  });

  it('exports ConnectionPool from colloquy/client', () => {
    expect(report.entries['colloquy/client']?.exports.ConnectionPool).toBe('class');
  });

  it("hides Session.driver, Session.machine and the server's session map behind read-only access", () => {
    for (const entry of ['colloquy', 'colloquy/client']) {
      const members = report.entries[entry]?.classes.ClientSession ?? [];
      expect(members).toContain('send');
      expect(members).not.toContain('driver');
      expect(members).not.toContain('machine');
    }
    expect(report.entries.colloquy?.classes.Session).not.toContain('driver');
    expect(report.entries['colloquy/server']?.classes.Server).toContain('sessions');
  });

  it("shows WebSessions' public methods and none of the internals its adapters use", () => {
    const members = report.entries['colloquy/web']?.classes.WebSessions ?? [];
    expect(members).toEqual(
      expect.arrayContaining(['handle', 'resolve', 'listSessions', 'revoke', 'revokeAll', 'close']),
    );
    for (const internal of ['store', 'writeRecord', 'destroyStored', 'newToken', 'guard', 'cookies', 'save', 'load'])
      expect(members).not.toContain(internal);
  });
});
