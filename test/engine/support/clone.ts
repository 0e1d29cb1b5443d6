// Exact copies of a machine pair's state, so that the explorer (./explorer.ts) can branch from a
// state instead of replaying the path to it from the start.
//
// Why a structural copy and not snapshot/restore: a MachineSnapshot is what a session needs to
// go on elsewhere after a RESUME (no transport, timers restarted, the events not yet polled
// dropped, closed or unestablished machines refused), so a restored machine is not the same
// state. A structural copy is: every own field of every object is copied (class instances keep
// their prototype; Uint8Arrays, Maps and Sets are copied; objects shared inside the state stay
// shared in the copy), except
//   - Errors and frozen objects, which nothing mutates, are shared;
//   - closures: a machine is copied by constructing a fresh one from the same options and
//     copying the fields over it; should its constructor build objects of functions bound to
//     itself (none today: the dialogue's host is the machine), each field of the original that
//     holds such a bag of functions maps to the fresh machine's own. Any other closure met in the state is an error
//     (the copy would call back into the original), so a change in the machine that adds one
//     fails the exactness test (test/engine/machine/explorer-clone.test.ts) instead of passing
//     silently.

import { SessionMachine } from '../../../src/engine/machine/index.js';

type Memo = Map<unknown, unknown>;

function hasFunctions(o: object): boolean {
  for (const v of Object.values(o)) if (typeof v === 'function') return true;
  return false;
}

/** A copy of `v` in which everything reachable is copied (see the top of this file). */
export function copyDeep<T>(v: T, memo: Memo, at = '$'): T {
  if (v === null || typeof v !== 'object') {
    if (typeof v !== 'function') return v;
    const f = memo.get(v);
    if (f === undefined) throw new Error(`cannot copy the closure at ${at}: it would call back into the original`);
    return f as T;
  }
  const known = memo.get(v);
  if (known !== undefined) return known as T;
  if (v instanceof Error || Object.isFrozen(v)) return v;
  if (v instanceof SessionMachine) return copyMachine(v, memo, at) as T;
  if (v instanceof Uint8Array) {
    const c = v.slice();
    memo.set(v, c);
    return c as T;
  }
  if (Array.isArray(v)) {
    const c: unknown[] = new Array(v.length);
    memo.set(v, c);
    for (let i = 0; i < v.length; i++) c[i] = copyDeep(v[i], memo, at);
    return c as T;
  }
  if (v instanceof Map) {
    const c = new Map();
    memo.set(v, c);
    for (const [k, x] of v) c.set(copyDeep(k, memo, at), copyDeep(x, memo, at));
    return c as T;
  }
  if (v instanceof Set) {
    const c = new Set();
    memo.set(v, c);
    for (const x of v) c.add(copyDeep(x, memo, at));
    return c as T;
  }
  const c = Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown>;
  memo.set(v, c);
  for (const k of Object.keys(v)) c[k] = copyDeep((v as Record<string, unknown>)[k], memo, `${at}.${k}`);
  return c as T;
}

function copyMachine(m: SessionMachine, memo: Memo, at: string): SessionMachine {
  const fields = m as unknown as Record<string, unknown>;
  const fresh = new SessionMachine(fields.opts as ConstructorParameters<typeof SessionMachine>[0]);
  const target = fresh as unknown as Record<string, unknown>;
  memo.set(m, fresh);
  memo.set(fields.opts, fields.opts); // the machine's options: read, never written
  // The bags of functions the constructor bound to the fresh machine stand for the original's.
  for (const k of Object.keys(fields)) {
    const v = fields[k];
    const mine = target[k];
    if (
      v !== null &&
      typeof v === 'object' &&
      hasFunctions(v) &&
      mine !== null &&
      typeof mine === 'object' &&
      hasFunctions(mine)
    ) {
      memo.set(v, mine);
      for (const [name, f] of Object.entries(v))
        if (typeof f === 'function') memo.set(f, (mine as Record<string, unknown>)[name]);
    }
  }
  for (const k of Object.keys(fields)) target[k] = copyDeep(fields[k], memo, `${at}.${k}`);
  return fresh;
}
