// docs/pptp.md documents every error code and every decoder reason.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { PPTP_ERROR_CODES, PPTP_MALFORMED_REASONS } from '../../src/pptp/index.js';

const doc = readFileSync(new URL('../../docs/pptp.md', import.meta.url), 'utf8');

it('docs/pptp.md lists every PptpError code and PptpProtocolError reason', () => {
  for (const code of Object.keys(PPTP_ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
  for (const reason of PPTP_MALFORMED_REASONS) expect(doc).toContain(`\`${reason}\``);
});
