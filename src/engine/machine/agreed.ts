// What an established session agreed on, shared between sessions that agreed the same.
//
// Every session a server accepts under the same options, from clients with the same options,
// agrees the same parameters; keeping them once per session cost ~750 bytes of heap each (the
// agreement, the Negotiated view with its `units` Set and token list, the dialogue's config).
// `agreedParameters` hands out one frozen record per distinct agreement and role instead.
//
// Rules
//   - Everything returned is frozen (the Set inside cannot be frozen, but it is typed
//     ReadonlySet and nothing in the library writes it): sessions share it, so no one may change it.
//   - The table is bounded (MAX_SHARED_AGREEMENTS distinct agreements); past it, it starts
//     afresh. It is a cache of pure values: which object a session gets never changes what it
//     does, only how much memory it takes.

import type { AcceptFrame } from '../frames.js';
import { dialogueSetup } from './dialogue.js';
import type { DialogueSetup } from './dialogue.js';
import type { Agreement } from './handshake.js';
import { describe } from './negotiation.js';
import type { Negotiated } from './options.js';
import type { Role } from './transitions.js';

export interface Agreed {
  readonly agreement: Readonly<Agreement>;
  readonly negotiated: Readonly<Negotiated>;
  readonly dialogue: Readonly<DialogueSetup>;
}

export const MAX_SHARED_AGREEMENTS = 256;
const shared = new Map<string, Agreed>();

/** The agreement `a` describes, as seen by `role`: one shared frozen record per distinct value. */
export function agreedParameters(a: Agreement | AcceptFrame, role: Role): Agreed {
  const key = `${role} ${a.version} ${a.units} ${a.mode} ${a.simplexSender} ${a.maxFrameSize} ${a.heartbeatMs} ${a.resumeWindowMs} ${a.initialSerial} ${a.tokenSetting}`;
  const known = shared.get(key);
  if (known) return known;
  const agreement: Agreement = Object.freeze({
    version: a.version,
    units: a.units,
    mode: a.mode,
    simplexSender: a.simplexSender,
    maxFrameSize: a.maxFrameSize,
    heartbeatMs: a.heartbeatMs,
    resumeWindowMs: a.resumeWindowMs,
    initialSerial: a.initialSerial,
    tokenSetting: a.tokenSetting,
  });
  const described = describe(a);
  Object.freeze(described.tokens);
  Object.freeze(described.units);
  const negotiated = Object.freeze(described);
  const dialogue = Object.freeze(
    dialogueSetup({
      units: a.units,
      mode: negotiated.mode,
      isInitiator: role === 'initiator',
      simplexSenderIsMe: a.simplexSender === role,
      initialSerial: a.initialSerial,
      tokenSetting: a.tokenSetting,
    }),
  );
  const agreed: Agreed = Object.freeze({ agreement, negotiated, dialogue });
  if (shared.size >= MAX_SHARED_AGREEMENTS) shared.clear();
  shared.set(key, agreed);
  return agreed;
}
