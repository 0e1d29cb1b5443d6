// The Redis forms of `colloquy serve --store`: one server, Sentinel, or Cluster, each with TLS.
//
//   redis://[USER:PASSWORD@]HOST:PORT[/DB]                      one Redis server
//   redis+sentinel://[USER:PASSWORD@]H1:26379,H2:26379/NAME     the primary that the Sentinels
//                                                               monitor under NAME (failover)
//   redis+cluster://[USER:PASSWORD@]H1:7000,H2:7001,...         a Redis Cluster (seed nodes)
//   rediss://, rediss+sentinel://, rediss+cluster://            the same over TLS (Sentinels too)
//
// The password may also come from the environment, so that it appears in no process list:
// COLLOQUY_REDIS_PASSWORD (the data nodes; a password in the URL wins) and
// COLLOQUY_REDIS_SENTINEL_PASSWORD (the Sentinels, when they require one). A password is never
// printed: every message and the banner show the URL through redact().

import type { RedisOptions } from 'ioredis';
import type { RedisTarget } from '../store/redis-connection.js';

/** Environment variable with the password of the Redis data nodes (the URL's password wins). */
export const REDIS_PASSWORD_ENV = 'COLLOQUY_REDIS_PASSWORD';
/** Environment variable with the password of the Sentinels (redis+sentinel:// only). */
export const SENTINEL_PASSWORD_ENV = 'COLLOQUY_REDIS_SENTINEL_PASSWORD';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisSpec {
  mode: RedisMode;
  tls: boolean;
  /** What RedisStore and RedisBus are opened with (minus their own tuning). */
  target: Exclude<RedisTarget, { client: unknown }>;
  /** The URL with its password masked, for the banner and messages. */
  display: string;
}

const FORMS = {
  standalone: 'redis://HOST:6379',
  sentinel: 'redis+sentinel://h1:26379,h2:26379,h3:26379/mymaster',
  cluster: 'redis+cluster://h1:7000,h2:7001,h3:7002',
} as const;

/** True for the URL schemes parseRedisSpec takes. */
export function isRedisUrl(spec: string): boolean {
  return /^rediss?(\+(sentinel|cluster))?:\/\//i.test(spec);
}

/** A URL with any password replaced by ***, also when the rest of it does not parse. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}${userinfo}@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}

/** Parses a redis URL of any form; throws a message for the user (what is wrong, the right form). */
export function parseRedisSpec(spec: string, env: NodeJS.ProcessEnv = process.env): RedisSpec {
  const display = redact(spec);
  const m = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(?:([^/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?(#.*)?$/i.exec(spec);
  const fail = (what: string, mode: RedisMode = 'standalone'): never => {
    throw new Error(
      `--store '${display}': ${what}; write it like ${FORMS[mode]}${mode === 'standalone' ? '' : ` (or ${mode === 'sentinel' ? 'rediss+sentinel' : 'rediss+cluster'}:// for TLS)`}`,
    );
  };
  if (!m) return fail('is not a redis URL');
  const tls = (m[1] as string).toLowerCase() === 'rediss';
  const mode: RedisMode = (m[2]?.toLowerCase() as 'sentinel' | 'cluster' | undefined) ?? 'standalone';
  const userinfo = m[3];
  const hostList = m[4] as string;
  const path = m[5] ?? '';
  if (m[6] || m[7]) fail('takes no ?query or #fragment', mode);

  const auth: RedisOptions = {};
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name', fail, mode);
    const password = colon < 0 ? '' : decode(userinfo.slice(colon + 1), 'password', fail, mode);
    if (colon < 0 && user)
      fail(`has a user name but no password (USER:PASSWORD@, or the password in ${REDIS_PASSWORD_ENV})`, mode);
    if (user) auth.username = user;
    if (password) auth.password = password;
  }
  if (!auth.password && env[REDIS_PASSWORD_ENV]) auth.password = env[REDIS_PASSWORD_ENV];
  const tlsOptions: RedisOptions = tls ? { tls: {} } : {};

  if (mode === 'standalone') {
    if (hostList.includes(','))
      fail('names several hosts: use redis+sentinel:// or redis+cluster:// for more than one', mode);
    const [node] = hosts(hostList, 6379, fail, mode);
    const db = path === '' || path === '/' ? 0 : Number(path.slice(1));
    if (!Number.isInteger(db) || db < 0 || db > 15 || !/^\/\d+$/.test(path === '' || path === '/' ? '/0' : path))
      fail(`has '${path}' where a database number (/0 to /15) or nothing belongs`, mode);
    const n = node as { host: string; port: number };
    return {
      mode,
      tls,
      display,
      target: {
        url: `${tls ? 'rediss' : 'redis'}://${bracket(n.host)}:${n.port}/${db}`,
        redisOptions: { ...auth, ...tlsOptions },
      },
    };
  }
  const nodes = hosts(hostList, mode === 'sentinel' ? 26379 : 6379, fail, mode);
  if (mode === 'sentinel') {
    const name = path.replace(/^\//, '');
    if (!name) fail('names no primary: put the name the Sentinels monitor after the hosts (/mymaster)', mode);
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(name))
      fail(`has the primary name '${name}', which is not one word of letters, digits, '.', '_' or '-'`, mode);
    const sentinelPassword = env[SENTINEL_PASSWORD_ENV];
    const redisOptions: RedisOptions = {
      ...auth,
      ...tlsOptions,
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      ...(sentinelPassword ? { sentinelPassword } : {}),
    };
    return { mode, tls, display, target: { sentinels: nodes, name, redisOptions } };
  }
  if (path !== '' && path !== '/')
    fail(`has the path '${path}', but a Cluster has no database or name to select`, mode);
  return {
    mode,
    tls,
    display,
    target: { cluster: nodes, clusterOptions: { redisOptions: { ...auth, ...tlsOptions } } },
  };
}

type Fail = (what: string, mode?: RedisMode) => never;

function hosts(list: string, defaultPort: number, fail: Fail, mode: RedisMode): { host: string; port: number }[] {
  if (list === '') return fail('names no host', mode);
  return list.split(',').map((item) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::([^:]*))?$/.exec(item);
    if (!m) return fail(`has '${item}' where HOST:PORT belongs`, mode);
    const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1');
    const port = m[2] === undefined ? defaultPort : /^\d{1,5}$/.test(m[2]) ? Number(m[2]) : NaN;
    if (!(port >= 1 && port <= 65535))
      return fail(`has the port '${m[2] ?? ''}' in '${item}', not a number from 1 to 65535`, mode);
    return { host, port };
  });
}

function decode(s: string, what: string, fail: Fail, mode: RedisMode): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return fail(`has a ${what} that is not valid percent-encoding`, mode);
  }
}

function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
