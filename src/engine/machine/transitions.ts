// The lifecycle transition table: the one place that says which lifecycle state follows which.
//
// The session machine moves between these states only through `nextState()`, and
// docs/state-machine.md is generated from this table (scripts/gen-docs.ts), so the diagram
// cannot drift from the code. Dialogue rules (tokens, sync points, activities, release) live
// in ./dialogue.ts as guards; they never change the lifecycle state except through a trigger
// listed here.
//
//   initiator:  idle -> connecting -> established <-> interrupted -> resuming -> established
//   acceptor:   idle -> accepting  -> established <-> interrupted ----(RESUME)--> established
//   both:       any live state -> closed (release, abort, refusal, expiry, protocol error)

export type LifecycleState =
  'idle' | 'connecting' | 'accepting' | 'established' | 'interrupted' | 'resuming' | 'closed';

export type LifecycleTrigger =
  | 'transport-up'
  | 'transport-down'
  | 'recv-CONNECT'
  | 'accept'
  | 'refuse'
  | 'recv-ACCEPT'
  | 'recv-REFUSE'
  | 'recv-RESUME'
  | 'recv-RESUMED'
  | 'recv-RESUME_REFUSED'
  | 'stale-resume'
  | 'heartbeat-timeout'
  | 'handshake-timeout'
  | 'resume-window-expired'
  | 'released'
  | 'abort'
  | 'recv-ABORT'
  | 'protocol-error'
  | 'restored';

export type Role = 'initiator' | 'acceptor';

export interface Transition {
  readonly from: readonly LifecycleState[];
  readonly on: LifecycleTrigger;
  readonly to: LifecycleState;
  readonly role?: Role;
  readonly note: string;
}

const LIVE: readonly LifecycleState[] = ['idle', 'connecting', 'accepting', 'established', 'interrupted', 'resuming'];

export const TRANSITIONS: readonly Transition[] = [
  { from: ['idle'], on: 'transport-up', to: 'connecting', role: 'initiator', note: 'send CONNECT' },
  { from: ['idle'], on: 'transport-up', to: 'idle', role: 'acceptor', note: 'wait for CONNECT or RESUME' },
  {
    from: ['connecting'],
    on: 'transport-down',
    to: 'idle',
    role: 'initiator',
    note: 'no session yet; may connect again',
  },
  { from: ['idle'], on: 'transport-down', to: 'idle', note: 'nothing to keep' },
  { from: ['idle'], on: 'recv-CONNECT', to: 'accepting', role: 'acceptor', note: 'indicate connect-request' },
  { from: ['accepting'], on: 'accept', to: 'established', role: 'acceptor', note: 'send ACCEPT' },
  { from: ['accepting'], on: 'refuse', to: 'closed', role: 'acceptor', note: 'send REFUSE' },
  { from: ['accepting'], on: 'transport-down', to: 'closed', role: 'acceptor', note: 'peer left before the answer' },
  { from: ['connecting'], on: 'recv-ACCEPT', to: 'established', role: 'initiator', note: 'negotiated' },
  { from: ['connecting'], on: 'recv-REFUSE', to: 'closed', role: 'initiator', note: 'ERR_REFUSED' },
  { from: ['connecting', 'idle'], on: 'handshake-timeout', to: 'closed', note: 'ERR_HANDSHAKE_TIMEOUT' },
  { from: ['established'], on: 'transport-down', to: 'interrupted', note: 'keep state, buffer sends' },
  { from: ['established'], on: 'heartbeat-timeout', to: 'interrupted', note: 'peer silent for 2 intervals' },
  { from: ['interrupted'], on: 'transport-up', to: 'resuming', role: 'initiator', note: 'send RESUME' },
  { from: ['interrupted'], on: 'transport-up', to: 'interrupted', role: 'acceptor', note: 'wait for RESUME' },
  { from: ['interrupted'], on: 'transport-down', to: 'interrupted', note: 'still waiting' },
  { from: ['resuming'], on: 'recv-RESUMED', to: 'established', role: 'initiator', note: 'replay what the peer lacks' },
  { from: ['resuming'], on: 'recv-RESUME_REFUSED', to: 'closed', role: 'initiator', note: 'ERR_RESUME_REFUSED' },
  { from: ['resuming'], on: 'transport-down', to: 'interrupted', role: 'initiator', note: 'try again' },
  {
    from: ['resuming'],
    on: 'handshake-timeout',
    to: 'interrupted',
    role: 'initiator',
    note: 'drop transport, try again',
  },
  { from: ['interrupted'], on: 'recv-RESUME', to: 'established', role: 'acceptor', note: 'send RESUMED, replay' },
  {
    from: ['interrupted'],
    on: 'stale-resume',
    to: 'closed',
    role: 'acceptor',
    note: 'the peer has seen more than this state: RESUME_REFUSED stale-state',
  },
  { from: ['interrupted', 'resuming'], on: 'resume-window-expired', to: 'closed', note: 'ERR_RESUME_WINDOW_EXPIRED' },
  { from: ['established', 'interrupted', 'resuming'], on: 'released', to: 'closed', note: 'DISCONNECT delivered' },
  {
    from: ['idle'],
    on: 'restored',
    to: 'interrupted',
    note: 'rebuilt from a snapshot (another node, a restart); waits for the resume',
  },
  { from: LIVE, on: 'abort', to: 'closed', note: 'send ABORT' },
  { from: LIVE, on: 'recv-ABORT', to: 'closed', note: 'ERR_ABORTED (remote)' },
  { from: LIVE, on: 'protocol-error', to: 'closed', note: 'send ABORT, ERR_PROTOCOL_VIOLATION' },
];

/** The state `trigger` leads to from `state` for `role`, or undefined when the table has no row. */
export function nextState(state: LifecycleState, trigger: LifecycleTrigger, role: Role): LifecycleState | undefined {
  for (const t of TRANSITIONS) {
    if (t.on === trigger && t.from.includes(state) && (t.role === undefined || t.role === role)) return t.to;
  }
  return undefined;
}
