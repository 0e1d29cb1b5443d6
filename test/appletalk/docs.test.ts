// docs/appletalk.md documents every error code and every decoder reason.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { APPLETALK_ERROR_CODES, APPLETALK_MALFORMED_REASONS } from '../../src/appletalk/index.js';

const doc = readFileSync(new URL('../../docs/appletalk.md', import.meta.url), 'utf8');

it('docs/appletalk.md lists every AppletalkError code and AppletalkProtocolError reason', () => {
  for (const code of Object.keys(APPLETALK_ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
  for (const reason of APPLETALK_MALFORMED_REASONS) expect(doc).toContain(`\`${reason}\``);
});
