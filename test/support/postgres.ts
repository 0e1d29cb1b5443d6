// The PostgreSQL the tests use: the machine's own server on 127.0.0.1:5432 (trust auth, database
// `test`; .ci/run makes sure it runs), or COLLOQUY_TEST_POSTGRES_URL. Each test file works in its
// own schema (`fresh schema`), dropped at the end, so runs never see each other's rows.
//
// Without a reachable server the suites are skipped with a loud notice, except under CI=true,
// where they run and fail.

import pg from 'pg';
import { CI } from './redis.js';

export const POSTGRES_URL = process.env.COLLOQUY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when the server answers `SELECT 1` within 3 s. */
export async function postgresReachable(url = POSTGRES_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether a suite needing PostgreSQL must be skipped: only when unreachable outside CI, loudly. */
export async function skipWithoutPostgres(suite: string): Promise<boolean> {
  if (await postgresReachable()) return false;
  if (CI) {
    console.error(
      `\n!!! ${suite}: PostgreSQL is not reachable at ${POSTGRES_URL} under CI=true; the suite runs and will FAIL (.ci/run starts it).\n`,
    );
    return false;
  }
  console.warn(
    `\n${'!'.repeat(100)}\n!!! ${suite} SKIPPED: PostgreSQL is not reachable at ${POSTGRES_URL}, so the PostgreSQL store is NOT being checked.\n` +
      `!!! Start it (apt-get install -y postgresql; pg_ctlcluster <version> main start; trust auth on 127.0.0.1, database test)\n` +
      `!!! or set COLLOQUY_TEST_POSTGRES_URL   (under CI=true this suite runs instead, and .ci/run starts it)\n${'!'.repeat(100)}\n`,
  );
  return true;
}

let schemas = 0;
/** A schema name no other run uses. */
export function freshSchema(tag = 't'): string {
  return `${tag}_${process.pid}_${++schemas}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Runs one statement on a short-lived connection (setup and inspection in tests). */
export async function postgresQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
  url = POSTGRES_URL,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops the schemas a test file made. */
export async function dropSchemas(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await postgresQuery(names.map((s) => `DROP SCHEMA IF EXISTS "${s}" CASCADE;`).join(' '));
}
