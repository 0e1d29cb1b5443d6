// How `colloquy trace` draws frames: one ladder line (or one JSON object) per frame.
//
// Session frame numbers (#n) are counted per direction exactly as both ends count them (the
// numbers ACK, RESUME and RESUMED carry): connection frames get none, and after a resume the
// count restarts from what the RESUME / RESUMED says the other side already has, so replayed
// frames show their original numbers.

import { encodedLength } from '../engine/codec/index.js';
import { isSessionFrame } from '../engine/frames.js';
import type { Frame, TokenName } from '../engine/frames.js';
import { tokenNames } from '../engine/machine/tokens.js';
import { unitNames } from '../engine/machine/negotiation.js';
import { toHex } from '../engine/bytes.js';

export interface TracedFrame {
  /** Milliseconds since the trace started. */
  t: number;
  /** out: client to server; in: server to client. */
  dir: 'out' | 'in';
  type: Frame['type'];
  /** Bytes on the wire (header included). */
  bytes: number;
  /** Session frame number in this direction; absent for connection frames. */
  n?: number;
  /** Sync point serial number, on sync and resync frames. */
  serial?: number;
  /** Tokens named by GIVE_TOKENS / PLEASE_TOKENS. */
  tokens?: TokenName[];
  /** Tokens the client holds once the frame is sent or handled. */
  holds: TokenName[];
  /** A short human description (payload preview, reasons, parameters). */
  detail: string;
}

export const LEGEND = `Legend: ──▶ client to server, ◀── server to client. #n: session frame number in that
direction (what ACK, RESUME and RESUMED count; connection frames have none). s=N: sync point
serial number. [..]: tokens the client holds afterwards (data, minorSync, majorActivity,
release; the server holds the others that exist). Sizes are bytes on the wire.
`;

const TIME_WIDTH = 10;
const ARROW_WIDTH = 44;

export function ladderHeader(): string {
  return `${'ms'.padStart(TIME_WIDTH - 2)}  client${' '.repeat(ARROW_WIDTH - 12)}server`;
}

const dec = new TextDecoder();
function preview(bytes: Uint8Array, max = 48): string {
  if (bytes.length === 0) return '';
  const text = dec.decode(bytes.subarray(0, max * 4));
  // eslint-disable-next-line no-control-regex
  const printable = !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text);
  if (!printable) return `0x${toHex(bytes.subarray(0, 16))}${bytes.length > 16 ? '…' : ''}`;
  const chars = [...text];
  return JSON.stringify(chars.length > max ? `${chars.slice(0, max).join('')}…` : text);
}

function detailOf(f: Frame): { detail: string; serial?: number; tokens?: TokenName[] } {
  switch (f.type) {
    case 'CONNECT':
      return {
        detail: `v${f.minVersion}-${f.maxVersion} units ${unitNames(f.units).join(',')}${f.userData.length ? ` hello ${preview(f.userData, 64)}` : ''}`,
      };
    case 'ACCEPT':
      return {
        detail: `session ${toHex(f.sessionId).slice(0, 8)}… units ${unitNames(f.units).join(',')} max frame ${f.maxFrameSize}`,
      };
    case 'REFUSE':
      return { detail: `reason ${f.reason}: ${f.message}` };
    case 'RESUME':
      return {
        detail: `session ${toHex(f.sessionId).slice(0, 8)}… has received ${f.received}${f.acked === undefined ? '' : `, ${f.acked} of its own acknowledged`}`,
      };
    case 'RESUMED':
      return { detail: `server has received ${f.received}` };
    case 'RESUME_REFUSED':
      return { detail: `reason ${f.reason}: ${f.message}` };
    case 'ACK':
      return { detail: `received ${f.received}` };
    case 'HEARTBEAT':
      return { detail: '' };
    case 'ABORT':
      return { detail: `reason ${f.reason}${f.message ? `: ${f.message}` : ''}` };
    case 'DATA':
    case 'TYPED':
    case 'EXPEDITED':
    case 'CAPABILITY':
    case 'CAPABILITY_ACK':
      return { detail: preview(f.payload) };
    case 'GIVE_TOKENS':
      return { detail: tokenNames(f.tokens).join(','), tokens: tokenNames(f.tokens) };
    case 'PLEASE_TOKENS':
      return { detail: tokenNames(f.tokens).join(','), tokens: tokenNames(f.tokens) };
    case 'MINOR_SYNC':
      return { detail: f.confirm ? 'confirm requested' : 'no confirmation', serial: f.serial };
    case 'MINOR_SYNC_ACK':
    case 'MAJOR_SYNC':
    case 'MAJOR_SYNC_ACK':
    case 'RESYNC_ACK':
    case 'ACTIVITY_END':
    case 'ACTIVITY_END_ACK':
      return { detail: preview(f.userData), serial: f.serial };
    case 'RESYNC':
      return { detail: ['restart', 'abandon', 'set'][f.resyncType] ?? String(f.resyncType), serial: f.serial };
    case 'ACTIVITY_START':
      return { detail: `id ${preview(f.activityId)}` };
    case 'ACTIVITY_RESUME':
      return { detail: `id ${preview(f.activityId)} from ${preview(f.oldActivityId)}`, serial: f.serial };
    case 'ACTIVITY_INTERRUPT':
    case 'ACTIVITY_DISCARD':
      return { detail: `reason ${f.reason}` };
    case 'EXCEPTION_REPORT':
      return { detail: `reason ${f.reason}: ${f.message}` };
    case 'EXCEPTION_DATA':
      return { detail: `reason ${f.reason}` };
    case 'FINISH':
    case 'DISCONNECT':
    case 'NOT_FINISHED':
      return { detail: preview(f.userData) };
    case 'REAUTH':
      return { detail: `${f.credentials.length} bytes of credentials` };
    case 'REAUTH_RESULT':
      return { detail: f.accepted ? 'accepted' : `refused: ${f.message}` };
    default:
      return { detail: '' };
  }
}

/** Describes one frame; `counts` is the per-direction session frame count, updated here. */
export function describeFrame(
  dir: 'out' | 'in',
  frame: Frame,
  t: number,
  counts: { in: number; out: number },
  holds: readonly TokenName[],
): TracedFrame {
  // A resume restarts each direction's count from what the other side said it has.
  if (frame.type === 'RESUME' && dir === 'out') counts.in = frame.received;
  if (frame.type === 'RESUMED' && dir === 'in') counts.out = frame.received;
  const d = detailOf(frame);
  const traced: TracedFrame = {
    t: Math.round(t * 10) / 10,
    dir,
    type: frame.type,
    bytes: encodedLength(frame),
    holds: [...holds],
    detail: d.detail,
  };
  if (isSessionFrame(frame)) traced.n = ++counts[dir];
  if (d.serial !== undefined) traced.serial = d.serial;
  if (d.tokens) traced.tokens = d.tokens;
  return traced;
}

/** One ladder line: time, arrow with the frame's label, then the details. */
export function ladderLine(f: TracedFrame): string {
  const label = ` ${f.type}${f.n !== undefined ? ` #${f.n}` : ''}${f.serial !== undefined ? ` s=${f.serial}` : ''} ${f.bytes} B `;
  const inner = ARROW_WIDTH - 4;
  const fill = Math.max(2, inner - label.length);
  const arrow = f.dir === 'out' ? `│─${label}${'─'.repeat(fill)}▶│` : `│◀${'─'.repeat(fill)}${label}─│`;
  const time = f.t.toFixed(1).padStart(TIME_WIDTH - 2);
  const holds = `[${f.holds.join(',')}]`;
  return `${time}  ${arrow} ${holds}${f.detail ? ` ${f.detail}` : ''}`;
}
