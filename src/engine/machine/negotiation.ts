// Connect negotiation: building CONNECT from options, the acceptor's answer, and checking it.
//
// Rules (X.225 where it has one):
//   - version: the highest both support;
//   - units: the intersection of proposed and supported (ISODE `requirements &= proposed`);
//     exceptions need half duplex and capability data needs activities, else they are dropped;
//   - dialogue mode: the acceptor's first preference that the initiator offered; half duplex sets
//     the half-duplex unit, full duplex and simplex set the duplex unit;
//   - tokens: only those whose unit was selected exist; "acceptor chooses" is settled by the
//     acceptor; the answer carries only initiator/acceptor positions;
//   - max frame size and resume window: the smaller proposal; heartbeat: the smaller non-zero.

import { SessionError } from '../errors.js';
import {
  DialogueMode,
  MAX_FRAME_SIZE,
  MIN_FRAME_SIZE,
  PROTOCOL_VERSION,
  RefuseReason,
  Token,
  TOKEN_NAMES,
  TokenPosition,
  Unit,
} from '../frames.js';
import type {
  AcceptFrame,
  ConnectFrame,
  DialogueModeName,
  DialogueModeValue,
  RefuseReasonValue,
  UnitName,
  UnitSet,
} from '../frames.js';
import { DEFAULTS } from './options.js';
import type { MachineOptions, Negotiated } from './options.js';
import { availableTokens, positionOf, tokenNames } from './tokens.js';

const MODE_UNITS = Unit.halfDuplex | Unit.duplex;
const ALL_MODES: readonly DialogueModeName[] = ['fullDuplex', 'halfDuplex', 'simplex'];
const UNIT_NAMES = Object.keys(Unit) as UnitName[];

export function unitsOf(names: readonly UnitName[]): UnitSet {
  let u = 0;
  for (const n of names) {
    if (!(n in Unit))
      throw new SessionError('ERR_INVALID_ARGUMENT', `unknown functional unit '${n}'`, 'local', { unit: n });
    u |= Unit[n];
  }
  return u;
}

export function unitNames(units: UnitSet): UnitName[] {
  return UNIT_NAMES.filter((n) => (units & Unit[n]) !== 0);
}

function modeName(mode: DialogueModeValue): DialogueModeName {
  return mode === DialogueMode.halfDuplex ? 'halfDuplex' : mode === DialogueMode.simplex ? 'simplex' : 'fullDuplex';
}

function checkSize(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SessionError('ERR_INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}`, 'local', {
      [name]: value,
    });
  }
  return value;
}

/**
 * What an initiator proposes by default: the services that need no activity discipline.
 * Activities, capability data, exceptions and negotiated release change what data transfer
 * requires, so an application asks for them by name.
 */
export const DEFAULT_PROPOSED_UNITS: readonly UnitName[] = [
  'expedited',
  'typedData',
  'minorSync',
  'majorSync',
  'resynchronize',
];

/** Non-mode units an options object asks for: an acceptor supports every unit by default. */
function optionUnits(opts: MachineOptions): UnitSet {
  const names = opts.units ?? (opts.role === 'acceptor' ? UNIT_NAMES : DEFAULT_PROPOSED_UNITS);
  return unitsOf(names) & ~MODE_UNITS;
}

export function buildConnect(opts: MachineOptions): ConnectFrame {
  const modes = opts.modes ?? ALL_MODES;
  if (modes.length === 0) throw new SessionError('ERR_INVALID_ARGUMENT', 'propose at least one dialogue mode', 'local');
  let modeBits = 0;
  for (const m of modes) modeBits |= DialogueMode[m];
  let units = optionUnits(opts);
  if (modeBits & DialogueMode.halfDuplex) units |= Unit.halfDuplex;
  if (modeBits & (DialogueMode.fullDuplex | DialogueMode.simplex)) units |= Unit.duplex;
  let tokenSetting = 0;
  for (const name of TOKEN_NAMES) {
    const holder = opts.initialTokens?.[name] ?? 'initiator';
    const pos =
      holder === 'acceptor'
        ? TokenPosition.acceptor
        : holder === 'acceptor-chooses'
          ? TokenPosition.acceptorChooses
          : TokenPosition.initiator;
    tokenSetting |= pos << (31 - Math.clz32(Token[name]));
  }
  return {
    type: 'CONNECT',
    minVersion: PROTOCOL_VERSION,
    maxVersion: PROTOCOL_VERSION,
    units,
    modes: modeBits,
    simplexSender: opts.simplexSender ?? 'initiator',
    tokenSetting,
    initialSerial: checkSize('initialSerial', opts.initialSerial ?? DEFAULTS.initialSerial, 0, 999_999),
    maxFrameSize: checkSize('maxFrameSize', opts.maxFrameSize ?? DEFAULTS.maxFrameSize, MIN_FRAME_SIZE, MAX_FRAME_SIZE),
    heartbeatMs: checkSize('heartbeatMs', opts.heartbeatMs ?? DEFAULTS.heartbeatMs, 0, 0xffff_ffff),
    resumeWindowMs: checkSize('resumeWindowMs', opts.resumeWindowMs ?? DEFAULTS.resumeWindowMs, 0, 0xffff_ffff),
    credentials: opts.credentials ?? new Uint8Array(0),
    userData: opts.userData ?? new Uint8Array(0),
  };
}

/** The negotiated parameters an ACCEPT describes. */
export function describe(
  a: Pick<
    AcceptFrame,
    'version' | 'units' | 'mode' | 'simplexSender' | 'maxFrameSize' | 'heartbeatMs' | 'resumeWindowMs' | 'initialSerial'
  >,
): Negotiated {
  return {
    version: a.version,
    units: new Set(unitNames(a.units)),
    mode: modeName(a.mode),
    simplexSender: a.simplexSender,
    maxFrameSize: a.maxFrameSize,
    heartbeatMs: a.heartbeatMs,
    resumeWindowMs: a.resumeWindowMs,
    initialSerial: a.initialSerial,
    tokens: tokenNames(availableTokens(a.units)),
  };
}

export type AcceptDraft = Omit<AcceptFrame, 'sessionId' | 'resumeSecret' | 'userData'>;
export type Decision = { ok: true; accept: AcceptDraft } | { ok: false; reason: RefuseReasonValue; message: string };

function minNonZero(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

/** A non-zero agreed heartbeat is raised to the floor, unless this side itself asked for less. */
function heartbeatFloor(agreed: number, opts: MachineOptions): number {
  const own = opts.heartbeatMs ?? DEFAULTS.heartbeatMs;
  const floor = Math.min(opts.minHeartbeatMs ?? DEFAULTS.minHeartbeatMs, own === 0 ? Infinity : own);
  return agreed === 0 ? 0 : Math.max(agreed, floor);
}

/** The acceptor's answer to a CONNECT, under its own options. */
export function decide(c: ConnectFrame, opts: MachineOptions): Decision {
  const version = Math.min(c.maxVersion, PROTOCOL_VERSION);
  if (version < c.minVersion || version < 1) {
    return {
      ok: false,
      reason: RefuseReason.versionUnsupported,
      message: `versions ${c.minVersion}-${c.maxVersion} offered, ${PROTOCOL_VERSION} supported`,
    };
  }
  let mode: DialogueModeValue | undefined;
  for (const m of opts.modes ?? ALL_MODES) {
    if (c.modes & DialogueMode[m]) {
      mode = DialogueMode[m];
      break;
    }
  }
  if (mode === undefined)
    return { ok: false, reason: RefuseReason.unitsUnsupported, message: 'no dialogue mode in common' };
  let units = c.units & optionUnits(opts) & ~MODE_UNITS;
  units |= mode === DialogueMode.halfDuplex ? Unit.halfDuplex : Unit.duplex;
  if (mode !== DialogueMode.halfDuplex) units &= ~Unit.exceptions;
  if (!(units & Unit.activities)) units &= ~Unit.capabilityData;
  const available = availableTokens(units);
  let tokenSetting = 0;
  for (const name of TOKEN_NAMES) {
    const bit = Token[name];
    if (!(available & bit)) continue;
    let pos = positionOf(c.tokenSetting, bit);
    if (pos === TokenPosition.acceptorChooses)
      pos =
        (opts.chosenTokens?.[name] ?? 'acceptor') === 'initiator' ? TokenPosition.initiator : TokenPosition.acceptor;
    tokenSetting |= pos << (31 - Math.clz32(bit));
  }
  const maxFrameSize = Math.min(c.maxFrameSize, opts.maxFrameSize ?? DEFAULTS.maxFrameSize);
  if (maxFrameSize < MIN_FRAME_SIZE)
    return {
      ok: false,
      reason: RefuseReason.invalidParameters,
      message: `max frame size ${c.maxFrameSize} below ${MIN_FRAME_SIZE}`,
    };
  return {
    ok: true,
    accept: {
      type: 'ACCEPT',
      version,
      units,
      mode,
      simplexSender: c.simplexSender,
      tokenSetting,
      initialSerial: c.initialSerial,
      maxFrameSize,
      heartbeatMs: heartbeatFloor(minNonZero(c.heartbeatMs, opts.heartbeatMs ?? DEFAULTS.heartbeatMs), opts),
      resumeWindowMs: Math.min(c.resumeWindowMs, opts.resumeWindowMs ?? DEFAULTS.resumeWindowMs),
    },
  };
}

/** The initiator's check that an ACCEPT stays within what it proposed. Returns a problem or null. */
export function checkAccept(a: AcceptFrame, c: ConnectFrame): string | null {
  if (a.version < c.minVersion || a.version > c.maxVersion) return `version ${a.version} was not offered`;
  if (a.units & ~c.units) return `units ${unitNames(a.units & ~c.units).join(', ')} were not proposed`;
  if (!(c.modes & a.mode)) return `dialogue mode ${modeName(a.mode)} was not offered`;
  const modeUnits = a.units & MODE_UNITS;
  if (modeUnits !== (a.mode === DialogueMode.halfDuplex ? Unit.halfDuplex : Unit.duplex))
    return 'the mode units do not match the dialogue mode';
  if (a.simplexSender !== c.simplexSender) return 'simplex sender changed';
  if (a.maxFrameSize > c.maxFrameSize || a.maxFrameSize < MIN_FRAME_SIZE)
    return `max frame size ${a.maxFrameSize} out of range`;
  if (a.resumeWindowMs > c.resumeWindowMs) return 'resume window longer than proposed';
  if (a.initialSerial !== c.initialSerial) return 'initial serial changed';
  const available = availableTokens(a.units);
  for (const name of TOKEN_NAMES) {
    const bit = Token[name];
    const proposed = positionOf(c.tokenSetting, bit);
    const got = positionOf(a.tokenSetting, bit);
    if (!(available & bit)) {
      if (got !== 0) return `position given for the ${name} token, which does not exist`;
      continue;
    }
    if (proposed !== TokenPosition.acceptorChooses && proposed !== got) return `the ${name} token moved`;
  }
  return null;
}
