// UTF-8 for `string` / `rest-string` fields: exact byte length, encode into place, strict decode.
//
// The engine type-checks with neither DOM nor Node types (src/engine/tsconfig.json), so the two
// WHATWG globals used here are described locally instead of coming from a lib. Both exist in every
// runtime Colloquy supports (Node >= 20, browsers, Deno, Bun).

interface Utf8Globals {
  TextEncoder: new () => { encodeInto(source: string, destination: Uint8Array): { read: number; written: number } };
  TextDecoder: new (
    label: string,
    options: { fatal: boolean; ignoreBOM: boolean },
  ) => { decode(input: Uint8Array): string };
}

const globals = globalThis as unknown as Utf8Globals;
const encoder = new globals.TextEncoder();
// fatal: invalid UTF-8 is a malformed frame, never silently replaced. ignoreBOM: a leading U+FEFF
// is content, kept as is, so that every decoded string re-encodes to the same bytes.
const decoder = new globals.TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Bytes `s` takes in UTF-8. A lone surrogate counts 3 bytes: TextEncoder writes it as U+FFFD, so
 * strings that are not well-formed UTF-16 are sent with replacement characters.
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // two UTF-16 units, four bytes
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Writes `s` at `target[offset]`; the caller has made room for utf8Length(s) bytes. */
export function writeUtf8(s: string, target: Uint8Array, offset: number): number {
  return offset + encoder.encodeInto(s, target.subarray(offset)).written;
}

/** Decodes `bytes` strictly; returns undefined if they are not valid UTF-8. */
export function readUtf8(bytes: Uint8Array): string | undefined {
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
