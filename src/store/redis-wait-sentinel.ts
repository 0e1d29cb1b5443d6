// Under Sentinel, what a write that no replica acknowledged is worth: RedisStore's replica wait
// (redis-wait.ts) asks the Sentinels before it lets such a write stand.
//
// Why: a primary with no replica connected is not always alone. Sentinel may be promoting one of
// its replicas (the replica left it on SLAVEOF NO ONE) or have promoted it already (a second
// failover, a partition): the old primary goes on taking this process's writes over the
// connection it has, until Sentinel turns it into a replica and it drops everything it took
// meanwhile. Seen in test/serve/sentinel-failover (load average 26-42, down-after 1 s): the
// promoted primary was declared down 1-4 s after its promotion and the other replica promoted;
// the serve nodes wrote to the deposed one for about 10 s, each write skipping its WAIT (no
// replica), until Sentinel demoted it; every session then resumed against state seconds old and
// was refused stale-state (the get's session too).
//
// Theory of operation
//   - Asked only for a write that fell short (the primary has fewer replicas than asked). Every
//     Sentinel is asked at once for the master it names (SENTINEL MASTER: run ID and flags); the
//     run ID of the node the write went to comes from INFO server.
//   - `deposed`: most of those that answered name another master. The write is on a primary
//     that Sentinel replaced, and will be dropped with everything it took.
//   - `replacing`: one of them sees this master down (s_down, o_down) or failing over: a replica
//     may be on its way up (it stops replicating from here on SLAVEOF NO ONE, before Sentinel
//     names it), so a write no replica acknowledged is not safe yet.
//   - `alone`: none of that. The primary lost its replicas (they died, or are resyncing after a
//     failover): a write on it is lost only with it, the documented shortfall (as before).
//   - `unknown`: no Sentinel answered; treated as alone.
//   - One verdict per primary connection at a time, kept VERDICT_MS: concurrent writes share it.

import { Redis } from 'ioredis';

export type SentinelVerdict = 'deposed' | 'replacing' | 'alone' | 'unknown';

/** How long a verdict stands for further writes to the same primary connection. */
export const VERDICT_MS = 200;

const verdicts = new WeakMap<Redis, { at: number; verdict: Promise<SentinelVerdict> }>();

/** The Sentinels and master name of a store client opened through Sentinel, or null. */
export function sentinelsOf(node: Redis): { sentinels: { host: string; port: number }[]; name: string } | null {
  const o = node.options as { sentinels?: { host?: string; port?: number }[]; name?: string };
  if (!Array.isArray(o.sentinels) || o.sentinels.length === 0 || typeof o.name !== 'string') return null;
  return {
    sentinels: o.sentinels.map((s) => ({ host: s.host ?? '127.0.0.1', port: s.port ?? 26379 })),
    name: o.name,
  };
}

/** What the Sentinels say of the primary `node` is connected to (cached VERDICT_MS per connection). */
export function sentinelVerdict(node: Redis): Promise<SentinelVerdict> {
  const seen = verdicts.get(node);
  if (seen && Date.now() - seen.at < VERDICT_MS) return seen.verdict;
  const verdict = ask(node);
  verdicts.set(node, { at: Date.now(), verdict });
  return verdict;
}

function fields(reply: unknown): Map<string, string> {
  const m = new Map<string, string>();
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) m.set(String(reply[i]), String(reply[i + 1]));
  return m;
}

async function ask(node: Redis): Promise<SentinelVerdict> {
  const group = sentinelsOf(node);
  if (group === null) return 'unknown';
  let ours: string | undefined;
  try {
    ours = /run_id:(\w+)/.exec(String(await node.call('INFO', 'server')))?.[1];
  } catch {
    return 'unknown';
  }
  if (ours === undefined) return 'unknown';
  const answers = (await Promise.all(group.sentinels.map((s) => masterSeenBy(node, s, group.name)))).filter(
    (a) => a !== null,
  );
  if (answers.length === 0) return 'unknown';
  if (answers.filter((a) => a.get('runid') !== ours).length * 2 > answers.length) return 'deposed';
  const troubled = answers.some((a) =>
    (a.get('flags') ?? '').split(',').some((f) => f === 's_down' || f === 'o_down' || f === 'failover_in_progress'),
  );
  return troubled ? 'replacing' : 'alone';
}

/** SENTINEL MASTER name, as one Sentinel sees it (null: it did not answer). */
async function masterSeenBy(
  node: Redis,
  at: { host: string; port: number },
  name: string,
): Promise<Map<string, string> | null> {
  const sentinel = new Redis({
    host: at.host,
    port: at.port,
    lazyConnect: true,
    connectTimeout: 500,
    commandTimeout: 500,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    ...(node.options.sentinelPassword ? { password: node.options.sentinelPassword } : {}),
    ...(node.options.sentinelUsername ? { username: node.options.sentinelUsername } : {}),
  });
  sentinel.on('error', () => undefined);
  try {
    await sentinel.connect();
    return fields(await sentinel.call('SENTINEL', 'MASTER', name));
  } catch {
    return null;
  } finally {
    sentinel.disconnect();
  }
}
