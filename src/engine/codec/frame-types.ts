// Type code <-> frame name, for the codec. The codes themselves live in ../frames.ts (FrameType).

import { FrameType, type FrameTypeName } from '../frames.js';

/** CODE_NAMES[code] is the frame name, or undefined for a code this version does not define. */
export const CODE_NAMES: readonly (FrameTypeName | undefined)[] = (() => {
  const names = new Array<FrameTypeName | undefined>(256).fill(undefined);
  for (const [name, code] of Object.entries(FrameType)) names[code] = name as FrameTypeName;
  return names;
})();

export function hex(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}
