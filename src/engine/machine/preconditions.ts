// The precondition table: for every dialogue command of the application, what must hold before
// it may change anything, in the order it is checked. It sits beside the lifecycle table
// (./transitions.ts): that one says which lifecycle state follows which; this one says when a
// service of X.225 may be asked for. docs/state-machine.md is generated from both
// (scripts/gen-docs.ts), and ./dialogue-guards.ts runs a row (`check`), each precondition
// throwing a local SessionError that names what is missing.
//
// Every command also needs a live session (established, interrupted or resuming); one that
// `initiates` something new also needs room in the send queue, while answers to the peer always
// pass. The machine checks both (SessionMachine.live) before the row. `args` marks where a
// command checks its own arguments (an activity ID's length, a serial number's range), so that
// the order of the errors is the table's.

import type { UnitName } from '../frames.js';

export type DialogueCommand =
  | 'sendData'
  | 'sendTyped'
  | 'sendExpedited'
  | 'sendCapability'
  | 'confirmCapability'
  | 'giveTokens'
  | 'requestTokens'
  | 'giveControl'
  | 'syncMinor'
  | 'confirmMinorSync'
  | 'syncMajor'
  | 'confirmMajorSync'
  | 'resynchronize'
  | 'respondResync'
  | 'startActivity'
  | 'resumeActivity'
  | 'interruptActivity'
  | 'confirmActivityInterrupt'
  | 'discardActivity'
  | 'confirmActivityDiscard'
  | 'endActivity'
  | 'confirmActivityEnd'
  | 'reportException'
  | 'release'
  | 'respondRelease';

/** What a request of the peer's that a command answers is called (the dialogue's pending kinds). */
export type Awaited =
  | 'capability'
  | 'release'
  | 'sync-minor'
  | 'sync-major'
  | 'resync'
  | 'activity-interrupt'
  | 'activity-discard'
  | 'activity-end';

/** What each precondition asks, in words (docs/state-machine.md lists them). */
export const PRECONDITION_MEANING = {
  sender: 'normal data goes this way: this side holds the data token (half duplex) or is the sender (simplex)',
  'in-activity': 'with the activities unit, an activity is in progress',
  'outside-activity': 'with the activities unit, no activity is in progress',
  'tokens:dialogue': 'this side holds every token that exists but release',
  'tokens:all': 'this side holds every token that exists',
  'tokens:majorActivity': 'this side holds the major/activity token',
  'tokens:minorSync+data': 'this side holds the minor-sync token, and the data token if it exists',
  'tokens:named': 'this side holds the tokens the command names',
  'named-tokens-exist': 'the command names at least one token, each existing under the negotiated units',
  'named-tokens-not-held': 'this side holds none of the tokens the command names',
  'no-pending': 'no request of either side awaits its answer',
  'flow-open':
    "normal flow is open: not releasing, no major sync point or activity end of ours unconfirmed, no request of ours pending, no request of the peer's unanswered (but release and capability data), no exception reported",
  'not-releasing': "we have not answered the peer's FINISH with DISCONNECT",
  'no-exception': 'the peer has not reported an exception while we hold the data token',
  'without-data-token': 'this side does not hold the data token (only the other side reports exceptions)',
  'not-resyncing': 'token positions are not being reassigned by our resynchronize',
  'resync-may-cancel':
    "nothing of ours pending but a major sync point (cancelled); no resynchronize, interrupt, discard or release of the peer's unanswered",
  'interrupt-may-cancel':
    "nothing of ours pending but a major sync point (cancelled); no request of the peer's unanswered",
  'refusal-negotiated': 'refusing a release needs the negotiated-release unit',
  args: "the command's own arguments (lengths, ranges)",
} as const;

export type Precondition =
  | keyof typeof PRECONDITION_MEANING
  /** The functional unit was negotiated. */
  | `unit:${UnitName}`
  /** The peer's request of this kind awaits our answer. */
  | `awaits:${Awaited}`;

export interface CommandRule {
  /** How the state error names the command ("cannot send data in state closed"). */
  readonly what: string;
  /** Starts something new (needs room in the send queue), as opposed to answering the peer. */
  readonly initiates: boolean;
  readonly needs: readonly Precondition[];
}

export const PRECONDITIONS: Readonly<Record<DialogueCommand, CommandRule>> = {
  sendData: { what: 'send data', initiates: true, needs: ['sender', 'in-activity', 'flow-open'] },
  sendTyped: { what: 'send typed data', initiates: true, needs: ['unit:typedData', 'flow-open'] },
  sendExpedited: { what: 'send expedited data', initiates: true, needs: ['unit:expedited', 'not-releasing'] },
  sendCapability: {
    what: 'send capability data',
    initiates: true,
    needs: ['unit:capabilityData', 'outside-activity', 'tokens:dialogue', 'no-pending'],
  },
  confirmCapability: { what: 'confirm capability data', initiates: false, needs: ['awaits:capability'] },
  giveTokens: { what: 'give tokens', initiates: true, needs: ['named-tokens-exist', 'tokens:named', 'no-pending'] },
  requestTokens: {
    what: 'ask for tokens',
    initiates: true,
    needs: ['named-tokens-exist', 'not-resyncing', 'named-tokens-not-held', 'not-releasing'],
  },
  giveControl: {
    what: 'give control',
    initiates: true,
    needs: ['unit:activities', 'outside-activity', 'tokens:majorActivity', 'no-pending'],
  },
  syncMinor: {
    what: 'sync',
    initiates: true,
    needs: ['unit:minorSync', 'tokens:minorSync+data', 'in-activity', 'flow-open'],
  },
  confirmMinorSync: { what: 'confirm', initiates: false, needs: ['awaits:sync-minor'] },
  syncMajor: {
    what: 'sync',
    initiates: true,
    needs: ['unit:majorSync', 'tokens:dialogue', 'in-activity', 'flow-open'],
  },
  confirmMajorSync: { what: 'confirm', initiates: false, needs: ['awaits:sync-major'] },
  resynchronize: {
    what: 'resynchronize',
    initiates: true,
    needs: ['unit:resynchronize', 'not-releasing', 'resync-may-cancel', 'args'],
  },
  respondResync: { what: 'answer resynchronize', initiates: false, needs: ['awaits:resync'] },
  startActivity: {
    what: 'start an activity',
    initiates: true,
    needs: ['unit:activities', 'args', 'outside-activity', 'tokens:dialogue', 'no-pending'],
  },
  resumeActivity: {
    what: 'resume an activity',
    initiates: true,
    needs: ['unit:activities', 'args', 'outside-activity', 'tokens:dialogue', 'no-pending'],
  },
  interruptActivity: {
    what: 'interrupt the activity',
    initiates: true,
    needs: ['unit:activities', 'in-activity', 'tokens:majorActivity', 'interrupt-may-cancel', 'args'],
  },
  confirmActivityInterrupt: { what: 'confirm', initiates: false, needs: ['awaits:activity-interrupt'] },
  discardActivity: {
    what: 'discard the activity',
    initiates: true,
    needs: ['unit:activities', 'in-activity', 'tokens:majorActivity', 'interrupt-may-cancel', 'args'],
  },
  confirmActivityDiscard: { what: 'confirm', initiates: false, needs: ['awaits:activity-discard'] },
  endActivity: {
    what: 'end the activity',
    initiates: true,
    needs: ['unit:activities', 'in-activity', 'tokens:dialogue', 'flow-open'],
  },
  confirmActivityEnd: { what: 'confirm', initiates: false, needs: ['awaits:activity-end'] },
  reportException: {
    what: 'report an exception',
    initiates: true,
    needs: ['unit:exceptions', 'without-data-token', 'args', 'not-releasing'],
  },
  release: {
    what: 'release',
    initiates: true,
    needs: ['outside-activity', 'tokens:all', 'no-pending', 'no-exception', 'not-releasing'],
  },
  respondRelease: { what: 'answer the release', initiates: false, needs: ['awaits:release', 'refusal-negotiated'] },
};
