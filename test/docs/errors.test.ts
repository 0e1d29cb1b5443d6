// The error family: one base class, one code table per folder, all of them in docs/errors.md.
// (test/docs/generated.test.ts checks that docs/errors.md is what the generator makes of them.)

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ERROR_CODES, ERROR_TABLES } from '../../src/errors.js';
import { errorsDoc } from '../../scripts/gen-docs.js';
import {
  ColloquyError,
  ProtocolError,
  SessionError,
  isColloquyError,
  isSessionError,
  type ErrorCode,
} from '../../src/engine/errors.js';
import { TransportError } from '../../src/transport/errors.js';
import { NetbiosError, NetbiosProtocolError } from '../../src/netbios/errors.js';
import { PptpError, PptpProtocolError } from '../../src/pptp/errors.js';
import type { STORE_ERROR_CODES } from '../../src/store/errors.js';
import type { APPS_ERROR_CODES } from '../../src/apps/errors.js';
import type { ENGINE_ERROR_CODES } from '../../src/engine/errors.js';

const src = new URL('../../src/', import.meta.url);

/** Every `export const X_ERROR_CODES` in a folder's errors.ts, as "folder/NAME". */
function tablesOnDisk(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(src, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    let text: string;
    try {
      text = readFileSync(new URL(`${entry.name}/errors.ts`, src), 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^export const ([A-Z_]+_ERROR_CODES)\b/gm)) found.push(`${entry.name}/${m[1]}`);
  }
  return found.sort();
}

describe('the error tables', () => {
  it('lists every folder table in ERROR_TABLES, and only those', () => {
    expect(ERROR_TABLES.map((t) => `${t.folder}/${t.name}`).sort()).toEqual(tablesOnDisk());
  });

  it('has no code in two tables, and ERROR_CODES is exactly their union', () => {
    const all = ERROR_TABLES.flatMap((t) => Object.keys(t.table));
    expect(new Set(all).size).toBe(all.length);
    expect(Object.keys(ERROR_CODES).sort()).toEqual([...all].sort());
  });

  it('puts every code, with what happened and what to do, into docs/errors.md', () => {
    const doc = errorsDoc();
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(doc).toContain(`## ${code}\n\n**What happened.** ${entry.what}\n\n**What to do.** ${entry.todo}\n`);
    }
  });

  it('gives SessionError the codes of every table registered for it, and no other', () => {
    expectTypeOf<'ERR_TOKEN_NOT_HELD'>().toMatchTypeOf<ErrorCode>();
    expectTypeOf<keyof typeof STORE_ERROR_CODES>().toMatchTypeOf<ErrorCode>();
    expectTypeOf<keyof typeof APPS_ERROR_CODES>().toMatchTypeOf<ErrorCode>();
    expectTypeOf<keyof typeof ENGINE_ERROR_CODES>().toMatchTypeOf<ErrorCode>();
    expectTypeOf<'ERR_TRANSPORT_RESET'>().not.toMatchTypeOf<ErrorCode>();
    expectTypeOf<'ERR_NO_SUCH_CODE'>().not.toMatchTypeOf<ErrorCode>();
    const sessionCodes = ERROR_TABLES.filter((t) => t.errorClass === 'SessionError').flatMap((t) =>
      Object.keys(t.table),
    );
    expect(sessionCodes).toContain('ERR_STORE_FULL');
    expect(sessionCodes).not.toContain('ERR_TRANSPORT_RESET');
  });
});

/** Every .ts file under a folder of the repository, relative to the repository root. */
function sources(root: string, folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(folder, f));
}

describe('registering the codes a module names', () => {
  // SessionError takes the codes registered with it by each folder's errors.ts (declaration
  // merging), so a module that names a code must have that errors.ts in its program: it imports
  // it. Then every program type-checks it alike (the web page's, a user's), not only the whole
  // repository's, where every file is present anyway.
  it("has every module that names a folder's code import that folder's errors.ts", () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const owner = new Map<string, string>();
    for (const t of ERROR_TABLES) {
      if (t.errorClass !== 'SessionError' || t.folder === 'engine') continue;
      for (const code of Object.keys(t.table)) owner.set(code, t.folder);
    }
    const missing: string[] = [];
    for (const file of [...sources(root, 'src'), ...sources(root, 'web')]) {
      if (file.endsWith('errors.ts')) continue;
      const text = readFileSync(join(root, file), 'utf8');
      const folders = new Set(
        [...text.matchAll(/['"](ERR_[A-Z_]+)['"]/g)].map((m) => owner.get(m[1]!)).filter((f) => f !== undefined),
      );
      for (const folder of folders) {
        let path = relative(dirname(file), join('src', folder, 'errors.js'));
        if (!path.startsWith('.')) path = `./${path}`;
        if (!text.includes(`from '${path}'`))
          missing.push(`${file} names a code of src/${folder}/errors.ts without importing ${path}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('one family', () => {
  const session = new SessionError('ERR_STORE_FULL', 'the store is full', 'local', { limit: 'maxEntries' });
  const protocol = new ProtocolError('ERR_MALFORMED_FRAME', 'bad frame');
  const transport = new TransportError('ERR_TRANSPORT_RESET', 'reset', 'remote');
  const netbios = new NetbiosError('ERR_NETBIOS_TIMEOUT', 'no answer', 'local', { timeoutMs: 5 });
  const netbiosProtocol = new NetbiosProtocolError(
    'ERR_MALFORMED_FRAME',
    'bad-length',
    'SESSION MESSAGE',
    'LENGTH',
    'too short',
  );
  const pptp = new PptpError('ERR_PPTP_CLOSED', 'closed', 'remote', {}, new Error('socket'));
  const pptpProtocol = new PptpProtocolError('ERR_MALFORMED_FRAME', 'bad-magic', 'bad magic');
  const members: [string, ColloquyError][] = [
    ['SessionError', session],
    ['ProtocolError', protocol],
    ['TransportError', transport],
    ['NetbiosError', netbios],
    ['NetbiosProtocolError', netbiosProtocol],
    ['PptpError', pptp],
    ['PptpProtocolError', pptpProtocol],
  ];

  for (const [name, error] of members) {
    it(`${name} is a ColloquyError with its own name, a code in the tables, an origin and details`, () => {
      expect(error).toBeInstanceOf(ColloquyError);
      expect(error).toBeInstanceOf(Error);
      expect(isColloquyError(error)).toBe(true);
      expect(error.name).toBe(name);
      expect(error.code in ERROR_CODES).toBe(true);
      expect(['local', 'remote']).toContain(error.origin);
      expect(typeof error.details).toBe('object');
    });
  }

  it('keeps the classes apart below the base', () => {
    expect(isSessionError(session)).toBe(true);
    expect(isSessionError(protocol)).toBe(true);
    expect(isSessionError(netbiosProtocol)).toBe(true);
    expect(isSessionError(transport)).toBe(false);
    expect(isSessionError(netbios)).toBe(false);
    expect(pptp).not.toBeInstanceOf(SessionError);
    expect(netbiosProtocol).toBeInstanceOf(ProtocolError);
    expect(isColloquyError(new Error('plain'))).toBe(false);
  });

  it('keeps the message, the details and the cause', () => {
    expect(String(session)).toBe('SessionError: the store is full');
    expect(session.details).toEqual({ limit: 'maxEntries' });
    expect((pptp.cause as Error).message).toBe('socket');
    expect('cause' in new PptpError('ERR_PPTP_TIMEOUT', 'late', 'local')).toBe(false);
  });
});
