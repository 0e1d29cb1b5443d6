// Generated documents are committed; this fails when one is stale or edited by hand.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documents } from '../../scripts/gen-docs.js';

describe('generated documents', () => {
  it('lists at least docs/errors.md', () => {
    expect(documents.map((d) => d.path)).toContain('docs/errors.md');
  });

  for (const doc of documents) {
    it(`${doc.path} matches its generator`, () => {
      const stale = `${doc.path} is out of date: run \`npm run docs\` and commit the result`;
      let onDisk: string;
      try {
        onDisk = readFileSync(new URL(`../../${doc.path}`, import.meta.url), 'utf8');
      } catch {
        expect.fail(`${doc.path} is missing: run \`npm run docs\` and commit the result`);
      }
      expect(onDisk, stale).toBe(doc.generate());
    });
  }
});
