// ReleasedEnd: a released acceptor's answer to a late RESUME, kept as data so that another node
// can give it (the session's record in a shared store), once the machine itself is gone.
//
// A release can end with its last frame lost to a cut: our DISCONNECT, or the acknowledgement
// of the DISCONNECT the peer sent. The peer then resumes, and the released acceptor answers as
// a live session would (SessionMachine.resumeReleased): its count of the peer's frames in
// RESUMED (the peer's DISCONNECT among them, which completes the peer's release) and, from the
// peer's count on, what it lacks of ours (our DISCONNECT last). `answerReleasedResume` gives the
// same frames from the data alone; the caller has checked the session ID and the secret.

import { ResumeRefuseReason } from '../frames.js';
import type { Frame, SessionFrame } from '../frames.js';

export interface ReleasedEnd {
  /** Our count of the peer's session frames (RESUMED carries it). */
  received: number;
  /** The count of our first frame the peer has not acknowledged; `frames` start there. */
  base: number;
  /** Ours from `base` on, the DISCONNECT last when we sent one. */
  frames: SessionFrame[];
}

/** RESUMED and the frames the peer lacks, or RESUME_REFUSED when its count is outside what we hold. */
export function answerReleasedResume(end: ReleasedEnd, peerReceived: number): Frame[] {
  const last = end.base + end.frames.length;
  if (!Number.isInteger(peerReceived) || peerReceived < end.base || peerReceived > last)
    return [
      {
        type: 'RESUME_REFUSED',
        reason: ResumeRefuseReason.invalid,
        message: `count ${peerReceived} outside ${end.base}..${last}`,
      },
    ];
  return [{ type: 'RESUMED', received: end.received }, ...end.frames.slice(peerReceived - end.base)];
}
