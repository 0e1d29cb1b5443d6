// A client session's machine snapshot in sessionStorage, so a page reload resumes the session.
//
// The page installs `persist` as the session's durability hook: the driver hands it a snapshot
// before it sends bytes or delivers events that snapshot covers (write-ahead), so what is stored
// is always a state the server can resume from, with nothing lost or repeated. sessionStorage is
// per tab: two tabs are two sessions; a reload of one tab resumes its own. The snapshot holds
// the resume secret; sessionStorage is readable only by this origin's scripts.
//
// Bytes are stored as hex, frames as their wire encoding in hex.

import { decodeFrame, encodeFrame } from '../src/engine/codec/index.js';
import { MAX_FRAME_SIZE } from '../src/engine/frames.js';
import type { SessionFrame } from '../src/engine/frames.js';
import type { MachineSnapshot } from '../src/engine/machine/index.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const unhex = (s: string): Uint8Array => {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error('not hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
};

interface Stored {
  name: string;
  snapshot: Omit<MachineSnapshot, 'sessionId' | 'resumeSecret' | 'replay' | 'queued' | 'dialogue'> & {
    sessionId: string;
    resumeSecret: string;
    replay: string[];
    queued: string[];
    dialogue: Omit<MachineSnapshot['dialogue'], 'activity'> & { activity: string | null };
  };
}

export function encodeSnapshot(name: string, s: MachineSnapshot): string {
  const frames = (list: SessionFrame[]): string[] => list.map((f) => hex(encodeFrame(f)));
  const stored: Stored = {
    name,
    snapshot: {
      ...s,
      sessionId: hex(s.sessionId),
      resumeSecret: hex(s.resumeSecret),
      replay: frames(s.replay),
      queued: frames(s.queued),
      dialogue: { ...s.dialogue, activity: s.dialogue.activity ? hex(s.dialogue.activity) : null },
    },
  };
  return JSON.stringify(stored);
}

/** The stored snapshot for `name`, or undefined when there is none, it is someone else's, or it is unreadable. */
export function decodeSnapshot(text: string | null, name: string): MachineSnapshot | undefined {
  if (!text) return undefined;
  try {
    const stored = JSON.parse(text) as Stored;
    if (stored.name !== name) return undefined;
    const e = stored.snapshot;
    const frames = (list: string[]): SessionFrame[] =>
      list.map((f) => decodeFrame(unhex(f), MAX_FRAME_SIZE) as SessionFrame);
    return {
      ...e,
      sessionId: unhex(e.sessionId),
      resumeSecret: unhex(e.resumeSecret),
      replay: frames(e.replay),
      queued: frames(e.queued),
      dialogue: { ...e.dialogue, activity: e.dialogue.activity === null ? null : unhex(e.dialogue.activity) },
    };
  } catch {
    return undefined;
  }
}
