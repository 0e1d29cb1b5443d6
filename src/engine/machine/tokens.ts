// Token arithmetic: which tokens exist under which units, names, and Token Setting bytes.

import { SessionError } from '../errors.js';
import { Token, TOKEN_NAMES, TokenPosition, Unit } from '../frames.js';
import type { TokenName, TokenSet, TokenSetting, UnitName, UnitSet } from '../frames.js';

/** The unit that brings each token into existence (X.225 Table 1); major/activity has two. */
export const TOKEN_UNIT: Record<TokenName, UnitName> = {
  data: 'halfDuplex',
  minorSync: 'minorSync',
  majorActivity: 'majorSync',
  release: 'negotiatedRelease',
};

export function availableTokens(units: UnitSet): TokenSet {
  let t = 0;
  if (units & Unit.halfDuplex) t |= Token.data;
  if (units & Unit.minorSync) t |= Token.minorSync;
  if (units & (Unit.majorSync | Unit.activities)) t |= Token.majorActivity;
  if (units & Unit.negotiatedRelease) t |= Token.release;
  return t;
}

export function tokenNames(set: TokenSet): TokenName[] {
  return TOKEN_NAMES.filter((n) => (set & Token[n]) !== 0);
}

export function tokenSetOf(names: readonly TokenName[]): TokenSet {
  let t = 0;
  for (const n of names) {
    if (!(n in Token)) throw new SessionError('ERR_INVALID_ARGUMENT', `unknown token '${n}'`, 'local', { token: n });
    t |= Token[n];
  }
  return t;
}

/** A token's 2-bit field sits at the token's own bit position (data 0, minor 2, major 4, release 6). */
function shiftOf(token: number): number {
  return 31 - Math.clz32(token);
}

export function positionOf(setting: TokenSetting, token: number): number {
  return (setting >> shiftOf(token)) & 0b11;
}

/** Token Setting byte placing every available token with its holder. */
export function settingFor(held: TokenSet, available: TokenSet, isInitiator: boolean): TokenSetting {
  let s = 0;
  for (const name of TOKEN_NAMES) {
    const bit = Token[name];
    if (!(available & bit)) continue;
    const mine = (held & bit) !== 0;
    const pos = mine === isInitiator ? TokenPosition.initiator : TokenPosition.acceptor;
    s |= pos << shiftOf(bit);
  }
  return s;
}

/** The tokens this side holds under a final Token Setting byte. */
export function heldFromSetting(setting: TokenSetting, available: TokenSet, isInitiator: boolean): TokenSet {
  let held = 0;
  const mine = isInitiator ? TokenPosition.initiator : TokenPosition.acceptor;
  for (const name of TOKEN_NAMES) {
    const bit = Token[name];
    if (available & bit && positionOf(setting, bit) === mine) held |= bit;
  }
  return held;
}
