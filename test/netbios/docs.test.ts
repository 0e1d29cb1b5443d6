// docs/netbios.md documents every error code and every decoder reason.

import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { NETBIOS_ERROR_CODES, NETBIOS_MALFORMED_REASONS } from '../../src/netbios/index.js';

const doc = readFileSync(new URL('../../docs/netbios.md', import.meta.url), 'utf8');

it('docs/netbios.md lists every NetbiosError code and NetbiosProtocolError reason', () => {
  for (const code of Object.keys(NETBIOS_ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
  for (const reason of NETBIOS_MALFORMED_REASONS) expect(doc).toContain(`\`${reason}\``);
});
