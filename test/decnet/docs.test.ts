// docs/decnet.md documents every error code and every decoder reason.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { DECNET_ERROR_CODES, DECNET_MALFORMED_REASONS } from '../../src/decnet/index.js';

const doc = readFileSync(new URL('../../docs/decnet.md', import.meta.url), 'utf8');

it('docs/decnet.md lists every DecnetError code and DecnetProtocolError reason', () => {
  for (const code of Object.keys(DECNET_ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
  for (const reason of DECNET_MALFORMED_REASONS) expect(doc).toContain(`\`${reason}\``);
});
