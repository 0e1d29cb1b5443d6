// The error family in one place: every folder's code table, merged.
//
// Each folder owns its codes (its errors.ts); this module only lists the tables, in layer order,
// with the class that carries their codes. scripts/gen-docs.ts writes docs/errors.md from
// ERROR_TABLES, and test/docs/errors.test.ts checks that no code is in two tables and that every
// folder's table is listed here.

import { APPS_ERROR_CODES } from './apps/errors.js';
import { CLIENT_ERROR_CODES } from './client/errors.js';
import { CLUSTER_ERROR_CODES } from './cluster/errors.js';
import { DRIVER_ERROR_CODES } from './driver/errors.js';
import { ENGINE_ERROR_CODES, type ErrorTable } from './engine/errors.js';
import { NETBIOS_ERROR_CODES } from './netbios/errors.js';
import { PPTP_ERROR_CODES } from './pptp/errors.js';
import { DECNET_ERROR_CODES } from './decnet/errors.js';
import { APPLETALK_ERROR_CODES } from './appletalk/errors.js';
import { SERVER_ERROR_CODES } from './server/errors.js';
import { STORE_ERROR_CODES } from './store/errors.js';
import { TRANSPORT_ERROR_CODES } from './transport/errors.js';
import { WEB_ERROR_CODES } from './web/errors.js';

export interface ErrorTableSource {
  /** The folder under src/ that owns the table (its errors.ts). */
  readonly folder: string;
  /** The exported name of the table. */
  readonly name: string;
  /** The class whose `code` takes these values. */
  readonly errorClass:
    'SessionError' | 'TransportError' | 'NetbiosError' | 'PptpError' | 'DecnetError' | 'AppletalkError';
  /** One line for docs/errors.md: what the codes are about. */
  readonly about: string;
  readonly table: ErrorTable;
}

export const ERROR_TABLES: readonly ErrorTableSource[] = [
  {
    folder: 'engine',
    name: 'ENGINE_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'the wire, the services of a session, connect, resume and the end of a session',
    table: ENGINE_ERROR_CODES,
  },
  {
    folder: 'transport',
    name: 'TRANSPORT_ERROR_CODES',
    errorClass: 'TransportError',
    about: 'what a transport itself detects, reported as the cause when a connection fails',
    table: TRANSPORT_ERROR_CODES,
  },
  {
    folder: 'driver',
    name: 'DRIVER_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'waits of the session runtime, and a peer that could not be reached',
    table: DRIVER_ERROR_CODES,
  },
  {
    folder: 'client',
    name: 'CLIENT_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'the URL given to connect()',
    table: CLIENT_ERROR_CODES,
  },
  {
    folder: 'server',
    name: 'SERVER_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'what the server enforces',
    table: SERVER_ERROR_CODES,
  },
  {
    folder: 'store',
    name: 'STORE_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'session stores',
    table: STORE_ERROR_CODES,
  },
  {
    folder: 'cluster',
    name: 'CLUSTER_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'the message bus, the session directory and replication',
    table: CLUSTER_ERROR_CODES,
  },
  {
    folder: 'web',
    name: 'WEB_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'web sessions and tokens',
    table: WEB_ERROR_CODES,
  },
  {
    folder: 'apps',
    name: 'APPS_ERROR_CODES',
    errorClass: 'SessionError',
    about: 'the RPC, file transfer and chat services',
    table: APPS_ERROR_CODES,
  },
  {
    folder: 'netbios',
    name: 'NETBIOS_ERROR_CODES',
    errorClass: 'NetbiosError',
    about: 'the NetBIOS session service (docs/netbios.md)',
    table: NETBIOS_ERROR_CODES,
  },
  {
    folder: 'pptp',
    name: 'PPTP_ERROR_CODES',
    errorClass: 'PptpError',
    about: 'the PPTP control connection (docs/pptp.md)',
    table: PPTP_ERROR_CODES,
  },
  {
    folder: 'decnet',
    name: 'DECNET_ERROR_CODES',
    errorClass: 'DecnetError',
    about: 'DECnet Phase IV logical links: NSP and Session Control (docs/decnet.md)',
    table: DECNET_ERROR_CODES,
  },
  {
    folder: 'appletalk',
    name: 'APPLETALK_ERROR_CODES',
    errorClass: 'AppletalkError',
    about: 'AppleTalk transactions and sessions: ATP, ZIP and ASP (docs/appletalk.md)',
    table: APPLETALK_ERROR_CODES,
  },
];

/** Every code of every folder, with what happened and what to do. */
export const ERROR_CODES = {
  ...ENGINE_ERROR_CODES,
  ...TRANSPORT_ERROR_CODES,
  ...DRIVER_ERROR_CODES,
  ...CLIENT_ERROR_CODES,
  ...SERVER_ERROR_CODES,
  ...STORE_ERROR_CODES,
  ...CLUSTER_ERROR_CODES,
  ...WEB_ERROR_CODES,
  ...APPS_ERROR_CODES,
  ...NETBIOS_ERROR_CODES,
  ...PPTP_ERROR_CODES,
  ...DECNET_ERROR_CODES,
  ...APPLETALK_ERROR_CODES,
} as const satisfies ErrorTable;

/** Any code of the family. */
export type AnyErrorCode = keyof typeof ERROR_CODES;
