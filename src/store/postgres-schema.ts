// PostgresStore's schema (postgres-store.ts): the table, its indexes, the one write function, the
// notification channel, and the SQL of every call. `postgresMigration()` returns the migration as
// text, so a team that manages its schema by hand runs exactly what the store would run.
//
// Layout (S: the schema, T: the table; both plain lower-case identifiers, checked):
//   S.T               id text primary key, data text (the JSON as written), version bigint,
//                     principal text (null: none), created_at / updated_at / expires_at bigint
//                     (milliseconds since the epoch, by the PostgreSQL server's clock), tag text
//                     (the write's tag, '' for none; added to older tables by the migration)
//   S.T_principal     index on (principal) where principal is not null: listByPrincipal
//   S.T_expires       index on (expires_at): the sweeper's batches
//   S.T_write(...)    plpgsql: set / compareAndSet(0) in one round trip (see below)
//
// Rules
//   - The clock is the server's: every statement computes `now` from statement_timestamp(), so
//     every node sharing the database agrees on it and on which sessions are live.
//   - A row is live while expires_at > now. Reads never return an expired row; the sweeper (or a
//     write over the same id) deletes it, and only the statement whose DELETE removed it reports
//     it, so `expired` is emitted once across every store on the table.
//   - The index is the table itself (a column and a partial index): a session and its principal
//     change in one row, in one statement, so they cannot disagree.
//   - data is text, not jsonb: what comes back is exactly the JSON that went in (jsonb would
//     reorder keys and drop duplicates), and text costs no parsing on the server.
//   - created, destroyed and expired are also sent with pg_notify on the table's channel, inside
//     the statement that caused them (so they are delivered if and only if it commits); the
//     payload names the store instance that acted, so it does not hear itself twice. A payload
//     past 7,900 bytes (an id and principal that long) is not sent: that event stays local.

import { createHash } from 'node:crypto';
import { SessionError } from '../engine/errors.js';

/** The largest pg_notify payload sent (PostgreSQL's limit is 8,000 bytes). */
export const MAX_NOTIFY_BYTES = 7900;

const IDENT = /^[a-z_][a-z0-9_]*$/;

export interface PostgresNames {
  /** `"schema"."table"`, quoted. */
  readonly table: string;
  readonly schema: string;
  /** The bare table name. */
  readonly name: string;
  /** The write function, quoted and schema-qualified. */
  readonly write: string;
  /** The LISTEN/NOTIFY channel of this table (an identifier of at most 63 bytes). */
  readonly channel: string;
}

export function postgresNames(schema: string, table: string): PostgresNames {
  if (typeof schema !== 'string' || !IDENT.test(schema) || schema.length > 63) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `schema must be a lower-case SQL identifier of at most 63 characters ([a-z_][a-z0-9_]*), not '${String(schema)}'`,
      'local',
      { option: 'schema' },
    );
  }
  // Index and function names add up to 9 characters to the table's name; 63 is PostgreSQL's limit.
  if (typeof table !== 'string' || !IDENT.test(table) || table.length > 54) {
    throw new SessionError(
      'ERR_INVALID_ARGUMENT',
      `table must be a lower-case SQL identifier of at most 54 characters ([a-z_][a-z0-9_]*), not '${String(table)}'`,
      'local',
      { option: 'table' },
    );
  }
  const digest = createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 24);
  return {
    table: `"${schema}"."${table}"`,
    schema,
    name: table,
    write: `"${schema}"."${table}_write"`,
    channel: `colloquy_${digest}`,
  };
}

/** The server's clock in milliseconds, the same for the whole statement. */
const NOW = `floor(extract(epoch from statement_timestamp()) * 1000)::bigint`;

/** pg_notify of one event row, unless the origin is null (`notify: false`) or the payload too long (the event stays local). */
function notify(n: PostgresNames, event: string, id: string, principal: string, origin: string): string {
  const payload = `json_build_object('o', ${origin}, 'e', '${event}', 'i', ${id}, 'p', ${principal})::text`;
  return `CASE WHEN ${origin} IS NOT NULL AND octet_length(${payload}) <= ${MAX_NOTIFY_BYTES} THEN pg_notify('${n.channel}', ${payload}) END`;
}

/**
 * The migration: schema, table, indexes and the write function, idempotent (IF NOT EXISTS,
 * CREATE OR REPLACE). The store runs it on first use unless `createTable: false`.
 */
export function postgresMigration(options: { schema?: string; table?: string } = {}): string {
  const n = postgresNames(options.schema ?? 'public', options.table ?? 'colloquy_sessions');
  return `CREATE SCHEMA IF NOT EXISTS "${n.schema}";
CREATE TABLE IF NOT EXISTS ${n.table} (
  id text PRIMARY KEY,
  data text NOT NULL,
  version bigint NOT NULL,
  principal text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  tag text NOT NULL DEFAULT ''
);
-- A table from before write tags gets the column. Looked up first: ALTER TABLE takes the table's
-- ACCESS EXCLUSIVE lock even when the column exists, which would stall every node's calls
-- whenever one more store starts.
DO $tag$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
      WHERE table_schema = '${n.schema}' AND table_name = '${n.name}' AND column_name = 'tag') THEN
    ALTER TABLE ${n.table} ADD COLUMN tag text NOT NULL DEFAULT '';
  END IF;
END $tag$;
CREATE INDEX IF NOT EXISTS "${n.name}_principal" ON ${n.table} (principal) WHERE principal IS NOT NULL;
CREATE INDEX IF NOT EXISTS "${n.name}_expires" ON ${n.table} (expires_at);
-- set (p_expected -1) and compareAndSet (p_expected >= 0; p_expected_tag null: any tag): the row
-- is locked while it is read, an expired row is deleted (reported once as reaped), and a lost
-- insert race is tried again. (The function before tags took 7 arguments: dropped.)
DROP FUNCTION IF EXISTS ${n.write}(text, text, bigint, bigint, boolean, text, text);
CREATE OR REPLACE FUNCTION ${n.write}(p_id text, p_data text, p_ttl bigint, p_expected bigint, p_keep boolean, p_principal text, p_origin text, p_tag text, p_expected_tag text)
RETURNS TABLE (outcome text, new_version bigint, reaped boolean, reaped_principal text)
LANGUAGE plpgsql AS $fn$
DECLARE
  now_ms bigint := ${NOW};
  cur ${n.table}%ROWTYPE;
  live boolean;
BEGIN
  reaped := false;
  FOR attempt IN 1..8 LOOP
    SELECT * INTO cur FROM ${n.table} WHERE id = p_id FOR UPDATE;
    live := FOUND AND cur.expires_at > now_ms;
    IF FOUND AND NOT live THEN
      DELETE FROM ${n.table} WHERE id = p_id;
      reaped := true;
      reaped_principal := cur.principal;
      PERFORM ${notify(n, 'expired', 'p_id', 'cur.principal', 'p_origin')};
    END IF;
    IF p_expected >= 0 AND (CASE WHEN live THEN cur.version ELSE 0 END) <> p_expected THEN
      outcome := 'conflict';
      RETURN NEXT;
      RETURN;
    END IF;
    IF p_expected_tag IS NOT NULL AND (CASE WHEN live THEN cur.tag ELSE '' END) <> p_expected_tag THEN
      outcome := 'conflict';
      RETURN NEXT;
      RETURN;
    END IF;
    IF live THEN
      UPDATE ${n.table} SET data = p_data, version = cur.version + 1, tag = p_tag,
        principal = CASE WHEN p_keep THEN cur.principal ELSE p_principal END,
        updated_at = now_ms, expires_at = now_ms + p_ttl
      WHERE id = p_id;
      outcome := 'updated';
      new_version := cur.version + 1;
      RETURN NEXT;
      RETURN;
    END IF;
    INSERT INTO ${n.table} (id, data, version, principal, created_at, updated_at, expires_at, tag)
    VALUES (p_id, p_data, 1, CASE WHEN p_keep THEN NULL ELSE p_principal END, now_ms, now_ms, now_ms + p_ttl, p_tag)
    ON CONFLICT (id) DO NOTHING;
    IF FOUND THEN
      PERFORM ${notify(n, 'created', 'p_id', 'CASE WHEN p_keep THEN NULL ELSE p_principal END', 'p_origin')};
      outcome := 'created';
      new_version := 1;
      RETURN NEXT;
      RETURN;
    END IF;
    -- Another writer inserted the id since our read: read it again (locked this time).
  END LOOP;
  outcome := 'busy';
  RETURN NEXT;
END
$fn$;
`;
}

/** The SQL of every call, built once per store. $n are the call's parameters. */
export function postgresQueries(
  n: PostgresNames,
): Record<'get' | 'write' | 'casUpdate' | 'touch' | 'destroy' | 'list' | 'revoke' | 'sweep' | 'now', string> {
  const cols = 'id, data, version, principal, created_at, updated_at, expires_at, tag';
  return {
    get: `SELECT ${cols} FROM ${n.table} WHERE id = $1 AND expires_at > ${NOW}`,
    // $1 id, $2 data, $3 ttl, $4 expected (-1: none), $5 keep principal, $6 principal, $7 origin,
    // $8 tag, $9 expected tag (null: any)
    write: `SELECT outcome, new_version, reaped, reaped_principal FROM ${n.write}($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    // compareAndSet over a version >= 1 needs no function: the row exists, live, with that version
    // (and that tag, when $8 is not null; $7 is the new tag).
    casUpdate: `UPDATE ${n.table} SET data = $2, version = version + 1, principal = CASE WHEN $5::boolean THEN principal ELSE $6 END,
      updated_at = ${NOW}, expires_at = ${NOW} + $3::bigint, tag = $7 WHERE id = $1 AND version = $4::bigint AND expires_at > ${NOW}
      AND ($8::text IS NULL OR tag = $8::text) RETURNING version`,
    touch: `UPDATE ${n.table} SET expires_at = ${NOW} + $2::bigint WHERE id = $1 AND expires_at > ${NOW}`,
    destroy: `WITH d AS (DELETE FROM ${n.table} WHERE id = $1 AND expires_at > ${NOW} RETURNING id, principal)
      SELECT id, principal, ${notify(n, 'destroyed', 'd.id', 'd.principal', '$2::text')} FROM d`,
    list: `SELECT ${cols} FROM ${n.table} WHERE principal = $1 AND expires_at > ${NOW} ORDER BY created_at, id`,
    revoke: `WITH d AS (DELETE FROM ${n.table} WHERE principal = $1 AND expires_at > ${NOW} RETURNING id, principal)
      SELECT id, principal, ${notify(n, 'destroyed', 'd.id', 'd.principal', '$2::text')} FROM d`,
    // One bounded batch: rows locked by another sweeper are skipped, never waited for.
    sweep: `WITH due AS (SELECT id FROM ${n.table} WHERE expires_at <= ${NOW} ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED),
      d AS (DELETE FROM ${n.table} t USING due WHERE t.id = due.id RETURNING t.id, t.principal)
      SELECT id, principal, ${notify(n, 'expired', 'd.id', 'd.principal', '$2::text')} FROM d`,
    now: `SELECT ${NOW} AS now`,
  };
}
