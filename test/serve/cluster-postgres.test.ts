// Several `colloquy serve` nodes sharing one PostgreSQL (--store postgres://…?schema=…): the
// multi-node suite (cluster-suite.ts) with PostgreSQL alone: web logins and durable session state
// in the PostgreSQL store, chat across nodes on the LISTEN/NOTIFY bus, and a session resumed on
// the other node after kill -9. The schema is this run's own, dropped at the end.

import { dropSchemas, freshSchema, POSTGRES_URL, skipWithoutPostgres } from '../support/postgres.js';
import { clusterSuite } from './cluster-suite.js';

const skip = await skipWithoutPostgres('serve cluster test on PostgreSQL');
const schema = freshSchema('serve');

clusterSuite('a PostgreSQL store', skip, {
  start: async () => `${POSTGRES_URL}?schema=${schema}`,
  stop: async () => {
    await dropSchemas([schema]);
  },
});
