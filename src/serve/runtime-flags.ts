// The session runtime's bounds as `colloquy serve` flags: each flag is the server option's name
// in kebab case (`--max-sessions` sets `maxSessions`), takes a whole number, and defaults to the
// server's own default. Without these, the bounds docs/security.md lists under "Runtime limits"
// could only be set from the library.
//
//   parseRuntimeFlags({ 'max-sessions': '2' })  -> { maxSessions: 2 }
//   RUNTIME_FLAGS_HELP                          -> the --help lines, defaults included

import { ADDRESS_LIMIT_DEFAULTS } from '../server/address-limits.js';
import {
  DEFAULT_MAX_HELD_BYTES,
  DEFAULT_MAX_PENDING_HANDSHAKES,
  DEFAULT_MAX_SESSIONS,
  type ServerOptions,
} from '../server/server.js';
import { DEFAULTS } from '../engine/machine/options.js';

type RuntimeOption =
  | 'maxSessions'
  | 'maxPendingHandshakes'
  | 'maxHeldBytes'
  | 'maxConnectionsPerAddress'
  | 'maxPendingHandshakesPerAddress'
  | 'maxSessionsPerAddress'
  | 'minHeartbeatMs'
  | 'handshakeTimeoutMs'
  | 'resumeWindowMs';

export type RuntimeLimits = Partial<Pick<ServerOptions, RuntimeOption>>;

interface RuntimeFlag {
  option: RuntimeOption;
  /** The value's name in --help. */
  unit: 'N' | 'BYTES' | 'MS';
  /** The smallest value accepted (0 turns a per-address cap off). */
  min: number;
  default: number;
  help: string;
}

/** Every runtime flag, in --help order. */
export const RUNTIME_FLAGS: readonly RuntimeFlag[] = [
  {
    option: 'maxSessions',
    unit: 'N',
    min: 1,
    default: DEFAULT_MAX_SESSIONS,
    help: 'live sessions (connected or waiting for resume); past it a CONNECT is refused (REFUSE congested, ERR_REFUSED)',
  },
  {
    option: 'maxPendingHandshakes',
    unit: 'N',
    min: 1,
    default: DEFAULT_MAX_PENDING_HANDSHAKES,
    help: 'connections that have not sent their first frame yet',
  },
  {
    option: 'maxHeldBytes',
    unit: 'BYTES',
    min: 1,
    default: DEFAULT_MAX_HELD_BYTES,
    help: 'bytes all sessions together hold for unacknowledged or unsent data; past it the session whose peer reads least is aborted (ERR_BUDGET_EXCEEDED)',
  },
  {
    option: 'maxConnectionsPerAddress',
    unit: 'N',
    min: 0,
    default: ADDRESS_LIMIT_DEFAULTS.maxConnectionsPerAddress,
    help: 'open connections from one client address (0: no cap; raise it behind a proxy)',
  },
  {
    option: 'maxPendingHandshakesPerAddress',
    unit: 'N',
    min: 0,
    default: ADDRESS_LIMIT_DEFAULTS.maxPendingHandshakesPerAddress,
    help: 'connections from one address that have not sent their first frame (0: no cap)',
  },
  {
    option: 'maxSessionsPerAddress',
    unit: 'N',
    min: 0,
    default: ADDRESS_LIMIT_DEFAULTS.maxSessionsPerAddress,
    help: 'live sessions opened from one address (0: no cap)',
  },
  {
    option: 'minHeartbeatMs',
    unit: 'MS',
    min: 1,
    default: DEFAULTS.minHeartbeatMs,
    help: 'the shortest heartbeat interval a client may make the server keep',
  },
  {
    option: 'handshakeTimeoutMs',
    unit: 'MS',
    min: 1,
    default: DEFAULTS.handshakeTimeoutMs,
    help: 'time for a first frame, for authentication and for a claim from the store',
  },
  {
    option: 'resumeWindowMs',
    unit: 'MS',
    min: 1,
    default: DEFAULTS.resumeWindowMs,
    help: 'how long a session whose connection dropped waits for its client',
  },
];

/** `maxSessions` -> `max-sessions`. */
export function flagName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The parseArgs options for every runtime flag (strings, validated by parseRuntimeFlags). */
export function runtimeFlagOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(RUNTIME_FLAGS.map((f) => [flagName(f.option), { type: 'string' as const }]));
}

/**
 * The server options the runtime flags in `values` set (absent flags are left out, so the
 * server's defaults apply). Throws an Error naming the flag and what it takes.
 */
export function parseRuntimeFlags(values: Readonly<Record<string, unknown>>): RuntimeLimits {
  const out: RuntimeLimits = {};
  for (const f of RUNTIME_FLAGS) {
    const text = values[flagName(f.option)];
    if (text === undefined) continue;
    const flag = `--${flagName(f.option)}`;
    if (typeof text !== 'string' || !/^\d{1,15}$/.test(text) || Number(text) < f.min) {
      throw new Error(
        `${flag} takes a whole number${f.unit === 'MS' ? ' of milliseconds' : f.unit === 'BYTES' ? ' of bytes' : ''} >= ${f.min}${f.min === 0 ? ' (0: no cap)' : ''}, not '${String(text)}'`,
      );
    }
    out[f.option] = Number(text);
  }
  return out;
}

/** Where --help descriptions start, and how wide its lines are. */
const HELP_COLUMN = 23;
const HELP_WIDTH = 96;

/** The --help lines for the runtime flags, with their defaults (the layout of serve's other options). */
export const RUNTIME_FLAGS_HELP: string = RUNTIME_FLAGS.map((f) => {
  const head = `  --${flagName(f.option)} ${f.unit}`;
  const lines: string[] = [];
  let line = head.length < HELP_COLUMN - 1 ? head.padEnd(HELP_COLUMN) : (lines.push(head), ' '.repeat(HELP_COLUMN));
  for (const word of [...f.help.split(' '), `(default ${f.default})`]) {
    if (line.length + word.length > HELP_WIDTH && line.trim() !== '') {
      lines.push(line.trimEnd());
      line = ' '.repeat(HELP_COLUMN);
    }
    line += `${word} `;
  }
  lines.push(line.trimEnd());
  return lines.join('\n');
}).join('\n');
